"""The paper's AppZoo and ModelZoo on real data (issue "beyond one classifier"): every task type
and the small encoders, each trained from its gallery recipe, written to docs/results/.

    python scripts/experiments/appzoo_tasks.py [--only NAME ...] [--shared ../shared/data]

Runs one recipe at a time (2 cores), each into runs/experiments/<name>, and writes
docs/results/appzoo-tasks.md (command, seeds, commit, wall times, table) and a PNG of the dev
metric over steps. Sizes are scaled to the machine; each recipe says what it samples.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCALE = {
    # one CPU hour for all runs: the recipes' own sizes, cut by these overrides
    "ner-wnut17": ["train.epochs=1"],
    "ner-wnut17-crf": ["train.epochs=1"],
    "qa-squad": ["data.train.limit=1500", "data.dev.limit=500", "train.epochs=1",
                 "data.max_length=160", "train.eval_every=1000"],
    "nli-mnli": ["data.train.limit=4000", "data.dev.limit=1000"],
    "sentiment-amazon": ["data.train.limit=3200"],
    "sentiment-textcnn": ["data.train.limit=3200"],
    "sentiment-bilstm": ["data.train.limit=3200"],
    "multitask-sentiment-nli": ["data.sets.reviews.train.limit=3200",
                                "data.sets.nli.train.limit=4000",
                                "data.sets.nli.dev.limit=1000"],
}
RUNS: list[tuple[str, str, str]] = [
    # (recipe, what it shows, metrics to report: comma-separated keys of the last evaluation)
    ("ner-wnut17", "tag, BIO, softmax", "entities.f1,entities.precision,entities.recall"),
    ("ner-wnut17-crf", "tag, BIO, CRF + Viterbi", "entities.f1,entities.precision,entities.recall"),
    ("qa-squad", "span, doc stride, n-best", "qa.exact_match,qa.f1"),
    ("nli-mnli", "match (cross-encoder)", "nli.accuracy,nli.macro_f1"),
    ("sentiment-amazon", "classify, MiniLM-L6", "sentiment.accuracy,sentiment.macro_f1"),
    ("sentiment-textcnn", "classify, TextCNN", "sentiment.accuracy,sentiment.macro_f1"),
    ("sentiment-bilstm", "classify, BiLSTM", "sentiment.accuracy,sentiment.macro_f1"),
    ("multitask-sentiment-nli", "2 heads, 1 MiniLM",
     "sentiment.accuracy,sentiment.macro_f1,nli.accuracy,nli.macro_f1"),
]


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True)
    return out.stdout.strip() or "unknown"


def run(name: str, shared: Path, out_root: Path) -> dict:
    run_dir = out_root / name
    if (run_dir / "result.json").is_file():
        return json.loads((run_dir / "experiment.json").read_text())
    env = dict(os.environ, ETDECL_SHARED_DATA=str(shared), HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "etdecl.cli", "train", f"recipes/{name}.yaml", "--run-dir",
           str(run_dir)] + [a for o in SCALE.get(name, []) for a in ("--set", o)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed (exit {proc.returncode})")
    result = json.loads((run_dir / "result.json").read_text())
    record = {"name": name, "wall_s": round(wall, 1), "result": result,
              "command": " ".join(["etdecl", *cmd[3:]])}
    (run_dir / "experiment.json").write_text(json.dumps(record, indent=2))
    return record


def _curves(out_root: Path, names: list[str], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name in names:
        result = json.loads((out_root / name / "result.json").read_text())
        key = result["metric"]
        points = [json.loads(x) for x in (out_root / name / "metrics.jsonl").read_text()
                  .splitlines()]
        dev = [(p["step"], p[key]) for p in points if p["split"] == "dev" and key in p]
        scale = 0.01 if key.endswith(("exact_match", ".f1")) and "qa." in key else 1.0
        ax.plot([s for s, _ in dev], [v * scale for _, v in dev], marker="o", ms=3,
                label=f"{name} ({key})")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("dev metric (selection metric; SQuAD scaled to 0-1)")
    ax.set_title("etdecl AppZoo tasks on real data (MiniLM-L6 unless named)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def write_report(records: list[dict], out_root: Path, shared: Path) -> Path:
    docs = ROOT / "docs" / "results"
    docs.mkdir(parents=True, exist_ok=True)
    png = docs / "appzoo-tasks.png"
    _curves(out_root, [r["name"] for r in records], png)
    by_name = {r["name"]: r for r in records}
    lines = [
        "# AppZoo and ModelZoo on real data",
        "",
        "Written by `python scripts/experiments/appzoo_tasks.py` "
        f"(commit {_commit()}, data from `{shared}`), one run at a time on this 2-core CPU "
        "machine. Seeds: `train.seed` 42 and `data.split_seed` 13 in every recipe. Figures "
        "are the last dev evaluation of each run (dev splits are the shared folders' "
        "`dev.jsonl`). Scaled down to fit about half an hour of this machine (the `--set` "
        "overrides in the commands below): WNUT-17 1 epoch; SQuAD 1,500 of 7,318 training "
        "questions, 1 epoch, max_length 160, scored on 500 of 1,574 dev questions; MultiNLI "
        "4,000 of 19,976 pairs, scored on 1,000 of 2,498; Amazon reviews 3,200 of 6,400, "
        "1 epoch (MiniLM) or 4 (TextCNN/BiLSTM). Wall times include model loading, "
        "tokenisation and every evaluation, and were measured while the test suite shared the "
        "2 cores, so compare them only within this table.",
        "",
        "| recipe | what | steps | wall time | dev figures |",
        "|---|---|---|---|---|",
    ]
    for name, what, keys in RUNS:
        if name not in by_name:
            continue
        r = by_name[name]
        last = r["result"]["last_eval"]
        figs = ", ".join(f"{k} {last[k]:.4f}" if last[k] <= 1.0 else f"{k} {last[k]:.2f}"
                         for k in keys.split(",") if k in last)
        lines.append(f"| `{name}` | {what} | {r['result']['step']} | {r['wall_s']:.0f} s | "
                     f"{figs} |")
    base = by_name.get("sentiment-amazon")
    if base:
        lines += ["", "Training wall time as a ratio to MiniLM-L6 on the same reviews "
                  "(`sentiment-amazon`, same run of this script):", ""]
        for name in ("sentiment-textcnn", "sentiment-bilstm"):
            if name in by_name:
                ratio = by_name[name]["wall_s"] / base["wall_s"]
                lines.append(f"- `{name}`: {ratio:.2f}× the wall time of MiniLM-L6, "
                             f"{by_name[name]['result']['step']} steps against "
                             f"{base['result']['step']}")
    mt = by_name.get("multitask-sentiment-nli")
    if mt and base and "nli-mnli" in by_name:
        last = mt["result"]["last_eval"]
        single_s = base["result"]["last_eval"]["sentiment.accuracy"]
        single_n = by_name["nli-mnli"]["result"]["last_eval"]["nli.accuracy"]
        lines += ["", "Multi-task against single-task (same data, same seeds):", "",
                  "| head | single-task | multi-task |", "|---|---|---|",
                  f"| sentiment accuracy | {single_s:.4f} | {last['sentiment.accuracy']:.4f} |",
                  f"| nli accuracy | {single_n:.4f} | {last['nli.accuracy']:.4f} |"]
    lines += ["", "Commands:", ""] + [f"- `{r['command']}`" for r in records]
    lines += ["", f"![dev metric over steps]({png.name})", ""]
    md = docs / "appzoo-tasks.md"
    md.write_text("\n".join(lines))
    return md


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="recipes to run (default: all)")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "experiments")
    args = parser.parse_args()
    names = [n for n, *_ in RUNS if not args.only or n in args.only]
    records = []
    for name in names:
        print(f"== {name}", flush=True)
        records.append(run(name, args.shared.resolve(), args.runs))
    print(write_report(records, args.runs, args.shared))


if __name__ == "__main__":
    main()
