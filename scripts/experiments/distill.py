"""The EasyTransfer paper's Table 10 protocol, scaled to this machine (issue 12): distil a
fine-tuned MiniLM-L6 into small students on the multi-domain Amazon reviews, from gallery recipes,
into docs/results/distill.md (+ a PNG).

    python scripts/experiments/distill.py [--quick] [--methods M ...] [--seeds S ...]
        [--shared ../shared/data] [--out runs/experiments/distill] [--set K=V] [--report PATH]

Teachers train first (recipes/teacher-amazon.yaml; MetaKD's meta-teacher from
recipes/metakd-teacher-amazon.yaml), on all four domains' training reviews; every student then
trains from its gallery recipe with the teacher's run as `teachers.teacher.source`. Reported per
method: dev accuracy per domain and their mean (the best checkpoint, all 800 dev reviews),
parameters, and CPU inference speed as a ratio to the teacher (the dev reviews predicted in
batches of 64 in bf16, the models interleaved over rounds, medians). Runs train one at a time in
this process, each into <out>/<method>/seed<S>; a finished run is reused, so an interrupted
protocol continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from study import commit, precision, train_one  # noqa: E402  (the scripts' shared helpers)

DOMAINS = ["books", "dvd", "electronics", "kitchen"]
TEACHER, META_TEACHER = "Teacher", "Meta-teacher"


@dataclass(frozen=True)
class Method:
    recipe: str
    student: str
    """Which student architecture (a column of the table)."""
    teacher: str = TEACHER
    sets: tuple[str, ...] = ()
    """Overrides that make the variant (e.g. student-only: no objectives)."""


MINILM2, TEXTCNN = "MiniLM-2L (layers 0, 5 of the teacher)", "TextCNN (MiniLM embeddings)"
NONE = ("teachers.teacher.objectives={}",)
METHODS = {
    "Student-only": Method("distill-kd-amazon", MINILM2, sets=NONE),
    "KD": Method("distill-kd-amazon", MINILM2),
    "PKD": Method("distill-pkd-amazon", MINILM2),
    "TinyBERT": Method("distill-tinybert-amazon", MINILM2),
    "MiniLM": Method("distill-minilm-amazon", MINILM2),
    "XtremeDistil": Method("xtremedistil-amazon", MINILM2),
    "MetaKD": Method("metakd-amazon", MINILM2, teacher=META_TEACHER),
    "TextCNN student-only": Method("distill-textcnn-amazon", TEXTCNN, sets=NONE),
    "TextCNN KD": Method("distill-textcnn-amazon", TEXTCNN),
    "TextCNN MetaKD": Method("distill-textcnn-amazon", TEXTCNN, teacher=META_TEACHER,
                             sets=("method.weighting=domain_expertise",)),
}
TEACHERS = {TEACHER: "teacher-amazon", META_TEACHER: "metakd-teacher-amazon"}


@dataclass(frozen=True)
class Budget:
    """What every run trains on and how, so the whole protocol fits about 90 minutes here."""

    max_length: int = 128
    batch_size: int = 32
    teacher_epochs: int = 2
    student_epochs: int | None = None
    """None: each recipe's own epochs (2; TextCNN 3; XtremeDistil 1 per stage)."""
    train_limit: int | None = 3200
    """A seeded half of the 6,400 training reviews (about 800 per domain), so the protocol fits
    in about an hour in fp32 on a CPU without bf16 units; None: all of them."""
    dev_limit: int | None = None
    max_steps: int | None = None
    eval_every: int = 100
    speed_rounds: int = 3
    extra: tuple[str, ...] = field(default_factory=tuple)


QUICK = Budget(max_length=32, batch_size=8, teacher_epochs=1, student_epochs=1, train_limit=64,
               dev_limit=32, max_steps=4, eval_every=4, speed_rounds=1)


def overrides(budget: Budget, shared: Path, seed: int, teacher_dir: Path | None,
              is_teacher: bool) -> list[str]:
    """`--set` overrides giving a gallery recipe the protocol's data, seed and budget."""
    folder = shared / "multi_domain_sentiment"
    out = [f"data.train.path={folder / 'train.jsonl'}", f"data.dev.path={folder / 'dev.jsonl'}",
           f"data.max_length={budget.max_length}", f"train.seed={seed}",
           f"train.batch_size={budget.batch_size}", f"train.eval_every={budget.eval_every}",
           "train.batching=bucketed", f"parallel.precision={precision()}"]
    if budget.train_limit:
        out.append(f"data.train.limit={budget.train_limit}")
    if budget.dev_limit:
        out.append(f"data.dev.limit={budget.dev_limit}")
    if budget.max_steps:
        out.append(f"train.max_steps={budget.max_steps}")
    epochs = budget.teacher_epochs if is_teacher else budget.student_epochs
    if epochs:
        out.append(f"train.epochs={epochs}")
    if teacher_dir is not None:
        out.append(f"teachers.teacher.source={teacher_dir}")
    return out + list(budget.extra)


def score(run_dir: Path, shared: Path, dev_limit: int | None) -> dict:
    """Dev accuracy per domain and overall of the run's best checkpoint (the last stage's, for
    a staged run), in the protocol's precision, and the student's parameter count."""
    from etdecl.engine.inference import evaluate_file, load_run, torch_forward

    run = load_run(run_dir)
    head = next(iter(run.loaded.recipe.heads))
    dev = shared / "multi_domain_sentiment" / "dev.jsonl"
    if dev_limit:  # the quick run scores a slice
        rows = dev.read_text().splitlines()[:dev_limit]
        dev = run_dir / "dev-slice.jsonl"
        dev.write_text("\n".join(rows) + "\n")
    got = evaluate_file(run, dev, forward=torch_forward(run, precision()))
    per = {d: got[f"{head}.accuracy[{d}]"] for d in DOMAINS if f"{head}.accuracy[{d}]" in got}
    params = sum(p.numel() for n, p in run.compiled.model.named_parameters()
                 if not n.startswith("objectives."))
    return {"accuracy": got[f"{head}.accuracy"], "per_domain": per, "params": params}


def run(name: str, recipe: str, seed: int, budget: Budget, shared: Path, out: Path,
        teacher_dir: Path | None, sets: tuple[str, ...] = (), is_teacher: bool = False) -> dict:
    run_dir = out / name.replace(" ", "-") / f"seed{seed}"
    record_file = run_dir / "experiment.json"
    if record_file.is_file():
        return json.loads(record_file.read_text())
    path = ROOT / "recipes" / f"{recipe}.yaml"
    all_sets = overrides(budget, shared, seed, teacher_dir, is_teacher) + list(sets)
    if run_dir.exists():
        raise SystemExit(f"{run_dir} holds an unfinished run without experiment.json; "
                         "remove it (or resume it with etdecl train --resume)")
    wall = train_one(path, all_sets, run_dir)
    record = {"method": name, "seed": seed, "wall_s": round(wall, 1), "run_dir": str(run_dir),
              **score(run_dir, shared, budget.dev_limit),
              "command": f"etdecl train {path.relative_to(ROOT)} --run-dir {run_dir}" + "".join(
                  f" --set '{s}'" for s in all_sets)}
    record_file.write_text(json.dumps(record, indent=2))
    print(f"{name} seed {seed}: accuracy {record['accuracy']:.4f}, "
          f"{record['params'] / 1e6:.1f}M params, {wall:.0f} s", file=sys.stderr)
    return record


def speed(run_dirs: dict[str, Path], shared: Path, rounds: int, dev_limit: int | None
          ) -> dict[str, float]:
    """Seconds to predict the dev reviews per model (batch 64, the protocol's precision),
    median over interleaved rounds after one warm-up pass each."""
    from etdecl.engine.inference import load_run, predict_records, torch_forward

    rows = [json.loads(line) for line in
            (shared / "multi_domain_sentiment" / "dev.jsonl").read_text().splitlines()]
    rows = rows[:dev_limit] if dev_limit else rows
    records = [{"text": r["text"]} for r in rows]
    runs = {name: load_run(d) for name, d in run_dirs.items()}
    forwards = {name: torch_forward(r, precision()) for name, r in runs.items()}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for name, r in runs.items():
        predict_records(r, records[:64], forward=forwards[name])
    for _ in range(rounds):
        for name, r in runs.items():
            started = time.perf_counter()
            predict_records(r, records, batch_size=64, forward=forwards[name])
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}


def plot(rows: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in rows:
        ax.scatter(r["speedup"], r["accuracy"], s=30 + r["params"] / 1e6)
        ax.annotate(r["method"], (r["speedup"], r["accuracy"]), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("CPU inference speed, × the teacher (log scale)")
    ax.set_ylabel("dev accuracy, 4 domains")
    ax.set_title("Table 10 protocol: distilling a fine-tuned MiniLM-L6 (marker size: parameters)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def write_report(rows: list[dict], args: argparse.Namespace, budget: Budget, wall: float,
                 report: Path) -> None:
    png = report.with_suffix(".png")
    plot(rows, png)
    teacher = next(r for r in rows if r["method"] == TEACHER)
    lines = [
        "# Distillation: the paper's Table 10 protocol, scaled",
        "",
        f"Written by `python scripts/experiments/distill.py {' '.join(sys.argv[1:])}` (commit "
        f"{commit()}, data `{args.shared}`), {len(rows)} models, "
        f"{sum(r['wall_s'] for r in rows) / 60:.1f} min of training wall time in all "
        f"({wall / 60:.1f} min in the invocation that wrote this; finished runs are reused); "
        f"seeds {', '.join(map(str, args.seeds))}.",
        "",
        "Protocol: the teacher is MiniLM-L6 (6 layers, width 384) fine-tuned on "
        f"{budget.train_limit or 6400} of the four domains' 6,400 training reviews (seeded) for "
        f"{budget.teacher_epochs} epochs; each student trains on the same "
        "reviews (the transfer set is the training set) from its gallery recipe, max_length "
        f"{budget.max_length}, {precision()} (bf16 where the CPU has bf16 units, else fp32), "
        f"bucketed batches of {budget.batch_size}. Scored on all dev "
        "reviews (200 per domain) with the best checkpoint by dev accuracy; speed is the time "
        f"to predict the dev reviews in batches of 64 in {precision()} on this machine's 2 "
        "cores, as the "
        "teacher's time over the model's (medians of interleaved rounds). Scaled down from the "
        "paper: one teacher size (MiniLM-L6, not BERT-base; mpnet-base left out for time), "
        "the training set as transfer set, one seed.",
        "",
        "| method | student | " + " | ".join(DOMAINS) + " | mean | parameters | speed × teacher "
        "| % of teacher's accuracy |",
        "|" + "---|" * (len(DOMAINS) + 6),
    ]
    for r in rows:
        per = [f"{r['per_domain'].get(d, float('nan')):.4f}" for d in DOMAINS]
        mean = statistics.fmean(r["per_domain"].values()) if r["per_domain"] else r["accuracy"]
        lines.append(f"| {r['method']} | {r['student']} | " + " | ".join(per)
                     + f" | {mean:.4f} | {r['params'] / 1e6:.1f}M | {r['speedup']:.2f} | "
                     f"{100 * r['accuracy'] / teacher['accuracy']:.1f} % |")
    goal = [r for r in rows if r["student"] == MINILM2
            and r["accuracy"] >= 0.97 * teacher["accuracy"] and r["speedup"] >= 2.5]
    lines += ["", "Goal (a 2-layer student at ≥ 97 % of the teacher's accuracy and ≥ 2.5× its "
              "speed): " + (f"met by {', '.join(r['method'] for r in goal)}." if goal
                            else "not met."), "", f"![accuracy against speed]({png.name})", "",
              "## Commands", ""]
    lines += [f"- {r['method']} ({r['wall_s']:.0f} s): `{r['command']}`" for r in rows]
    report.write_text("\n".join(lines) + "\n")
    print(f"wrote {report} and {png}", file=sys.stderr)


def setup(args: argparse.Namespace, report_name: str) -> tuple[Budget, Path]:
    """The budget (quick or full, with --set) and the report's path; checks the shared data
    and resolves `args.shared`, moves a quick run's `args.out` aside."""
    budget = QUICK if args.quick else Budget()
    budget = Budget(**{**budget.__dict__, "extra": tuple(args.extra)})
    if args.quick:
        args.out = args.out.with_name(args.out.name + "-quick")
    if not (args.shared / "multi_domain_sentiment" / "train.jsonl").is_file():
        raise SystemExit(f"no multi_domain_sentiment data under {args.shared} (--shared)")
    args.shared = args.shared.resolve()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report = args.report or (args.out / report_name if args.quick
                             else ROOT / "docs" / "results" / report_name)
    report.parent.mkdir(parents=True, exist_ok=True)
    return budget, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, 4 steps")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    default_shared = os.environ.get("ETDECL_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--shared", type=Path, default=Path(default_shared))
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "experiments" / "distill")
    parser.add_argument("--set", dest="extra", action="append", default=[], metavar="K=V",
                        help="another override for every run, after the protocol's")
    parser.add_argument("--report", type=Path, default=None,
                        help="default docs/results/distill.md (--quick: in --out)")
    args = parser.parse_args(argv)
    budget, report = setup(args, "distill.md")
    started = time.perf_counter()
    rows: list[dict] = []
    for seed in args.seeds:
        needed = {TEACHER} | {METHODS[m].teacher for m in args.methods}
        teachers: dict[str, dict] = {}
        for t in [TEACHER, META_TEACHER]:
            if t in needed:
                teachers[t] = run(t, TEACHERS[t], seed, budget, args.shared, args.out, None,
                                  is_teacher=True)
        for rec in teachers.values():
            rows.append({**rec, "student": "MiniLM-L6 (teacher)"})
        for name in args.methods:
            m = METHODS[name]
            rec = run(name, m.recipe, seed, budget, args.shared, args.out,
                      Path(teachers[m.teacher]["run_dir"]), m.sets)
            rows.append({**rec, "student": m.student})
    dirs = {r["method"]: Path(r["run_dir"]) for r in rows if r["seed"] == args.seeds[0]}
    times = speed(dirs, args.shared, budget.speed_rounds, budget.dev_limit)
    for r in rows:
        r["speedup"] = times[TEACHER] / times[r["method"]]
    write_report(rows, args, budget, time.perf_counter() - started, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
