"""AdaBERT against fixed-shape students (issue 14), on the Table 10 protocol of distill.py:
the searched-then-retrained student of recipes/adabert-amazon.yaml, the 2-layer MiniLM student
extracted from the teacher (KD) and a TextCNN (KD), all distilled from the same fine-tuned
MiniLM-L6 teacher on the multi-domain Amazon reviews, into docs/results/adabert.md (+ a PNG).

    python scripts/experiments/adabert.py [--quick] [--seeds S ...] [--shared ../shared/data]
        [--out runs/experiments/distill] [--set K=V] [--report PATH]

Runs are distill.py's (same budget, overrides, scoring and speed measurement) and share its
output folder, so a finished Table 10 run (teacher, KD, TextCNN KD) is reused. Reported per
model: dev accuracy per domain and mean, parameters (and, for AdaBERT, those of its cells'
ops), CPU inference speed as a ratio to the teacher, and whether it is on the accuracy/speed
frontier (no other model both as accurate and as fast, one of them strictly).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import distill as D  # noqa: E402  (the Table 10 protocol)
from study import commit, precision  # noqa: E402

ADABERT = "AdaBERT (searched cells, MiniLM embeddings)"
METHODS = {
    "KD": D.METHODS["KD"],
    "TextCNN KD": D.METHODS["TextCNN KD"],
    "AdaBERT": D.Method("adabert-amazon", ADABERT),
    "AdaBERT sharp": D.Method("adabert-amazon", ADABERT,
                              sets=("method.arch_lr=0.1", "method.efficiency=0.1")),
}
"""`AdaBERT sharp`: the same search with a 5× faster architecture learning rate and twice the
efficiency weight, for a more decided architecture in the same 160 steps."""


def frontier(rows: list[dict]) -> set[str]:
    """Models no other model dominates in (accuracy, speed)."""
    out = set()
    for r in rows:
        dominated = any(o is not r and o["accuracy"] >= r["accuracy"]
                        and o["speedup"] >= r["speedup"]
                        and (o["accuracy"] > r["accuracy"] or o["speedup"] > r["speedup"])
                        for o in rows)
        if not dominated:
            out.add(r["method"])
    return out


def searched(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["method"].startswith("AdaBERT")]


def search_facts(run_dir: Path) -> dict:
    """The AdaBERT run's stages (steps, wall time, best dev accuracy) and its architecture."""
    from etdecl.recipe.adabert_space import describe, genotype_cost, load_architecture

    stages = json.loads((run_dir / "stages.json").read_text())["stages"]
    search = run_dir / stages[0]["run_dir"]
    genotype = load_architecture(search / "architecture.yaml")
    resolved = (run_dir / "recipe.yaml").read_text()
    from ruamel.yaml import YAML

    enc = YAML(typ="safe").load(resolved)["encoders"]["student"]
    params, macs = genotype_cost(genotype, enc["hidden"])
    metrics = [json.loads(x) for x in (search / "metrics.jsonl").read_text().splitlines()]
    train = [m for m in metrics if m["split"] == "train"]
    method = YAML(typ="safe").load((search / "recipe.yaml").read_text())["method"]
    head = [x for x in (search / "architecture.yaml").read_text().splitlines()
            if x.startswith("# mean top op weight")]
    return {"stages": stages, "arch_lr": method["arch_lr"], "efficiency": method["efficiency"],
            "top_weight": head[0].rsplit(" ", 1)[-1] if head else "?",
            "genotype": describe(genotype),
            "cell_params": params * enc["cells"], "cell_macs": macs * enc["cells"],
            "cells": enc["cells"], "hidden": enc["hidden"],
            "cost_first": train[0].get("arch.cost"), "cost_last": train[-1].get("arch.cost"),
            "tau_last": train[-1].get("arch.tau")}


def plot(rows: list[dict], front: set[str], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in rows:
        on = r["method"] in front
        ax.scatter(r["speedup"], r["accuracy"], s=30 + 2 * r["params"] / 1e6,
                   marker="o" if on else "x")
        ax.annotate(r["method"], (r["speedup"], r["accuracy"]), fontsize=8,
                    xytext=(4, 3), textcoords="offset points")
    pts = sorted((r["speedup"], r["accuracy"]) for r in rows if r["method"] in front)
    ax.plot([p[0] for p in pts], [p[1] for p in pts], "--", alpha=0.5, label="frontier")
    ax.set_xscale("log")
    ax.set_xlabel("CPU inference speed, × the teacher (log scale)")
    ax.set_ylabel("dev accuracy, 4 domains")
    ax.set_title("AdaBERT against fixed students (marker size: parameters)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def write_report(rows: list[dict], facts: dict[str, dict], args: argparse.Namespace,
                 budget: D.Budget, wall: float, report: Path) -> None:
    png = report.with_suffix(".png")
    front = frontier(rows)
    plot(rows, front, png)
    teacher = next(r for r in rows if r["method"] == D.TEACHER)
    lines = [
        "# AdaBERT: a searched student against fixed ones (Table 10 protocol, scaled)",
        "",
        f"Written by `python scripts/experiments/adabert.py {' '.join(sys.argv[1:])}` (commit "
        f"{commit()}, data `{args.shared}`), {len(rows)} models, "
        f"{sum(r['wall_s'] for r in rows) / 60:.1f} min of training wall time in all "
        f"({wall / 60:.1f} min in the invocation that wrote this; finished runs are reused); "
        f"seeds {', '.join(map(str, args.seeds))}, {precision()}.",
        "",
        "Protocol (distill.py's): the teacher is MiniLM-L6 fine-tuned on "
        f"{budget.train_limit or 6400} of the 6,400 training reviews for "
        f"{budget.teacher_epochs} epochs; every student learns from it on the same reviews "
        "(logits KD, α 0.5, T 2) from its gallery recipe, max_length "
        f"{budget.max_length}, batches of {budget.batch_size}. AdaBERT "
        "(recipes/adabert-amazon.yaml): 2 search epochs on 80 % of those reviews with the "
        "architecture stepped on the other 20 % (Gumbel temperature 1 → 0.1; efficiency β "
        "0.05 and architecture lr 0.02, or for `AdaBERT sharp` β 0.1 and lr 0.1), then the "
        "derived cells retrained from scratch for 3 epochs on all of them. "
        "Scored on all 800 dev reviews with the best checkpoint (AdaBERT: the retrain's); "
        "speed: the dev reviews predicted in batches of 64 on this machine's 2 cores, the "
        "teacher's time over the model's (medians of interleaved rounds).",
        "",
        "| model | " + " | ".join(D.DOMAINS) + " | mean | parameters | speed × teacher | "
        "% of teacher's accuracy | on the frontier |",
        "|" + "---|" * (len(D.DOMAINS) + 6),
    ]
    for r in rows:
        per = [f"{r['per_domain'].get(d, float('nan')):.4f}" for d in D.DOMAINS]
        mean = statistics.fmean(r["per_domain"].values()) if r["per_domain"] else r["accuracy"]
        lines.append(f"| {r['method']}: {r['student']} | " + " | ".join(per)
                     + f" | {mean:.4f} | {r['params'] / 1e6:.1f}M | {r['speedup']:.2f} | "
                     f"{100 * r['accuracy'] / teacher['accuracy']:.1f} % | "
                     f"{'yes' if r['method'] in front else 'no'} |")
    lines.append("")
    fixed = [r for r in rows if r not in searched(rows)]
    for ada in searched(rows):
        beats = [r["method"] for r in fixed if r["method"] != D.TEACHER
                 and ada["accuracy"] >= r["accuracy"] and ada["speedup"] >= r["speedup"]]
        over = [r["method"] for r in fixed if r["accuracy"] >= ada["accuracy"]
                and r["speedup"] >= ada["speedup"]]
        verdict = ("**on** the accuracy/speed frontier" if ada["method"] in front
                   else "**not** on the accuracy/speed frontier")
        lines.append(
            f"- {ada['method']} is {verdict} of these models"
            + (f"; it is at least as accurate and as fast as {', '.join(beats)}" if beats else "")
            + (f"; {', '.join(over)} is at least as accurate and as fast" if over else "")
            + f". Its accuracy is {100 * ada['accuracy'] / teacher['accuracy']:.1f} % of the "
            f"teacher's at {ada['speedup']:.2f}× its speed.")
    lines += ["", "## The searches", ""]
    for ada in searched(rows):
        f = facts[ada["method"]]
        lines += [
            f"### {ada['method']} (efficiency β {f['efficiency']}, architecture lr "
            f"{f['arch_lr']})",
            "",
            f"Derived cell ({f['cells']} cells × {len(f['genotype'])} nodes, hidden "
            f"{f['hidden']}), per node:",
            "",
            *[f"- `{line}`" for line in f["genotype"]],
            "",
            f"Its ops hold {f['cell_params']:,} parameters and cost "
            f"{f['cell_macs'] / 1e6:.2f} M MACs per token (the embeddings, MiniLM's 30,522 × "
            "384 word pieces and their projection, hold most of the student's parameters). "
            f"The expected cost of the searched ops went from {f['cost_first']:.3f} to "
            f"{f['cost_last']:.3f} (0: all free ops, 1: all 7-wide convolutions) while the "
            f"temperature annealed to {f['tau_last']:.2f}; the mean weight of each edge's top "
            f"op ended at {f['top_weight']} (uniform: {1 / 10:.2f}).",
            "",
            "| stage | steps | best dev accuracy | wall time |",
            "|---|---|---|---|",
            *[f"| {s['name']} | {s['steps']} | {s['best']:.4f} | {s['wall_s']:.0f} s |"
              for s in f["stages"]],
            "",
        ]
    lines += [
        "Scaled down from the paper: one teacher (MiniLM-L6, not BERT-base), the training set "
        "as transfer set, a 2-cell, 3-node space at width 96, 2 search epochs, one seed; no "
        "probe classifiers on the teacher's layers (the student learns the teacher's logits "
        "only) and no search over K.",
        "",
        f"![accuracy against speed]({png.name})",
        "",
        "## Commands",
        "",
        *[f"- {r['method']} ({r['wall_s']:.0f} s): `{r['command']}`" for r in rows],
    ]
    report.write_text("\n".join(lines) + "\n")
    print(f"wrote {report} and {png}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, 4 steps")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    default_shared = os.environ.get("ETDECL_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--shared", type=Path, default=Path(default_shared))
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "experiments" / "distill")
    parser.add_argument("--set", dest="extra", action="append", default=[], metavar="K=V")
    parser.add_argument("--report", type=Path, default=None,
                        help="default docs/results/adabert.md (--quick: in --out)")
    args = parser.parse_args(argv)
    budget, report = D.setup(args, "adabert.md")
    started = time.perf_counter()
    rows: list[dict] = []
    for seed in args.seeds:
        teacher = D.run(D.TEACHER, D.TEACHERS[D.TEACHER], seed, budget, args.shared, args.out,
                        None, is_teacher=True)
        rows.append({**teacher, "student": "MiniLM-L6 (teacher)"})
        for name, m in METHODS.items():
            rec = D.run(name, m.recipe, seed, budget, args.shared, args.out,
                        Path(teacher["run_dir"]), m.sets)
            rows.append({**rec, "student": m.student})
    first = [r for r in rows if r["seed"] == args.seeds[0]]
    times = D.speed({r["method"]: Path(r["run_dir"]) for r in first}, args.shared,
                    budget.speed_rounds, budget.dev_limit)
    for r in rows:
        r["speedup"] = times[D.TEACHER] / times[r["method"]]
    facts = {r["method"]: search_facts(Path(r["run_dir"])) for r in searched(first)}
    write_report(first, facts, args, budget, time.perf_counter() - started, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
