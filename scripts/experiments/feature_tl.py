"""The EasyTransfer paper's Table 8 protocol on the multi-domain Amazon reviews (issue 11):
feature-based transfer against its baselines, from gallery recipes, into docs/results/.

    python scripts/experiments/feature_tl.py [--quick] [--methods M ...] [--targets D ...]
        [--seeds S ...] [--shared ../shared/data] [--out runs/experiments/feature-tl] [--set K=V]

For each target domain, 10 % of its training reviews (seeded) are the target data and the other
three domains are the source; every method trains from its gallery recipe with `--set`
overrides (the same data layout, sizes and budget for all) and is scored on the target's dev
reviews: accuracy and macro-F1, mean ± std over seeds. Runs train one at a time in this process,
each into <out>/<target>/<method>/seed<S>; a finished run is reused, so an interrupted protocol
continues where it stopped. A method whose recipe is missing is skipped with a message.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
# the protocol the Table 8 and Table 9 scripts share (target_rows, overrides and summarise are
# this module's names too: its tests read them here)
from study import (  # noqa: E402
    BASELINES,
    DOMAINS,
    QUICK,
    SOURCE,
    TARGET,
    Budget,
    Method,
    commands,
    commit,
    mean_over_targets,
    metric_tables,
    overrides,
    plot,
    precision,
    run_all,
    summarise,
    target_rows,
    wall_line,
)

__all__ = ["DOMAINS", "METHODS", "QUICK", "Budget", "Method", "overrides", "summarise",
           "target_rows", "orderings", "main"]

METHODS = {
    **BASELINES,
    "Fine-Tune": Method("finetune-amazon", (TARGET,), stage1="finetune-amazon-source"),
    "FS": Method("fs-amazon", (SOURCE, TARGET)),
    "SS": Method("ss-amazon", (SOURCE, TARGET)),
    "SS-Adv": Method("ss-adv-amazon", (SOURCE, TARGET)),
    "DRSS": Method("drss-amazon", (SOURCE, TARGET)),
    "DRSS-Adv": Method("drss-adv-amazon", (SOURCE, TARGET)),
}


FEATURE_TL = ("FS", "SS", "SS-Adv", "DRSS", "DRSS-Adv")
"""The paper's feature-based transfer methods; the other rows are its baselines."""


def orderings(table: dict, methods: list[str], targets: list[str]) -> list[str]:
    """Whether the paper's orderings hold, per target and on the mean over targets, on mean
    accuracy: every feature-based transfer method above Tgt-Only, and a DRSS variant on top
    (of all methods, and of the feature-based ones)."""
    lines = []
    mean = mean_over_targets(table, methods, targets)
    for t, acc in [(t, {m: table[(m, t)]["accuracy"][0] for m in methods if (m, t) in table})
                   for t in targets] + [("mean over targets", mean)]:
        if "Tgt-Only" not in acc:
            continue
        base = acc["Tgt-Only"]
        tl = [m for m in FEATURE_TL if m in acc]
        below = [m for m in tl if acc[m] <= base]
        lines.append(f"- {t}: every feature-based transfer method above Tgt-Only "
                     f"({base:.4f}): " + ("yes" if not below else
                                          f"no ({', '.join(below)} not above)"))
        drss = [m for m in tl if m.startswith("DRSS")]
        if drss:
            best = max(acc, key=acc.get)
            best_tl = max(tl, key=acc.get)
            lines.append(f"- {t}: a DRSS variant on top: of all methods "
                         f"{'yes' if best in drss else 'no'} (best: {best}), of the "
                         f"feature-based ones {'yes' if best_tl in drss else 'no'} "
                         f"(best: {best_tl})")
    if "FS" in mean and "Mixed" in mean and all(
            table[("FS", t)] == table[("Mixed", t)] for t in targets):
        lines.append("- FS equals Mixed run for run: both are one shared encoder and one head "
                     "trained on source and target together (FS's `shared` tower is the "
                     "identity), so the same seeds give the same model.")
    return lines


def write_report(records: list[dict], args: argparse.Namespace, wall: float, budget: Budget,
                 report: Path, skipped: list[str]) -> None:
    table = summarise(records)
    methods = [m for m in args.methods if any(k[0] == m for k in table)]
    targets = [t for t in args.targets if any(k[1] == t for k in table)]
    png = report.with_suffix(".png")
    plot(table, methods, targets, png,
         "Table 8 protocol: 10 % of the target domain, the other three as source")
    lines = [
        "# Feature-based transfer: the paper's Table 8 protocol",
        "",
        f"Written by `python scripts/experiments/feature_tl.py {' '.join(sys.argv[1:])}` "
        f"(commit {commit()}, data `{args.shared}`), {len(records)} runs, "
        f"{sum(r['wall_s'] for r in records) / 60:.1f} min of training wall time in all "
        f"({wall / 60:.1f} min in the invocation that wrote this; finished runs are reused); seeds "
        f"{', '.join(map(str, args.seeds))} (`train.seed` and `data.split_seed`: the seed also "
        "draws the target's 10 % and the source sample).",
        "",
        f"Protocol: for each target domain, {budget.target_fraction:.0%} of its training reviews "
        f"and a seeded sample of {budget.source_rows} of the other three domains' training "
        "reviews (the source); scored on the target's dev reviews"
        + " (all 200), with the best checkpoint by target dev accuracy"
        + (f" on {budget.target_dev_rows} of them" if budget.target_dev_rows else "")
        + " (Src-Only: by source dev accuracy, no target label seen). Budget, the same for "
        "every method: MiniLM-L6 with its "
        f"embeddings and lower {budget.freeze_layers} layers frozen, max_length "
        f"{budget.max_length}, {precision()}, bucketed batches of {budget.batch_size}, "
        "AdamW at lr "
        f"{budget.lr:g} with {budget.warmup:.0%} warmup, "
        f"{budget.source_epochs} epoch over source data or {budget.target_epochs} over the "
        "target's alone; Fine-Tune's source stage is the Src-Only run of the same target and "
        "seed (so Fine-Tune's wall time below is its second stage only).",
        "",
    ]
    if args.extra:
        lines += ["Changed for every run, after the budget above: "
                  + ", ".join(f"`{x}`" for x in args.extra) + ".", ""]
    if skipped:
        lines += [f"Skipped (recipe missing): {', '.join(skipped)}.", ""]
    lines += metric_tables(table, methods, targets)
    lines += ["## Orderings", "", *orderings(table, methods, targets), "", wall_line(records),
              "", f"![target dev accuracy]({png.name})", "", "## Commands", "",
              *commands(records)]
    report.write_text("\n".join(lines) + "\n")
    print(f"wrote {report} and {png}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 target, 1 seed, tiny sizes, 4 steps")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--targets", nargs="+", default=DOMAINS, choices=DOMAINS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    default_shared = os.environ.get("ETDECL_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--shared", type=Path, default=Path(default_shared))
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "experiments" / "feature-tl")
    parser.add_argument("--set", dest="extra", action="append", default=[], metavar="K=V",
                        help="another override for every run, after the protocol's "
                        "(e.g. data.max_length=128)")
    parser.add_argument("--report", type=Path, default=None,
                        help="default docs/results/feature-tl.md (--quick: in --out)")
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else Budget()
    if args.quick:
        args.targets, args.seeds = args.targets[:1], args.seeds[:1]
        args.out = args.out.with_name(args.out.name + "-quick")
    if not (args.shared / "multi_domain_sentiment" / "train.jsonl").is_file():
        raise SystemExit(f"no multi_domain_sentiment data under {args.shared} (--shared)")
    args.shared = args.shared.resolve()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report = args.report or (args.out / "feature-tl.md" if args.quick
                             else ROOT / "docs" / "results" / "feature-tl.md")
    report.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    records, skipped = run_all(METHODS, args, budget)
    if not records:
        raise SystemExit("nothing ran")
    write_report(records, args, time.perf_counter() - started, budget, report, skipped)
    return 0 if all(math.isfinite(r["accuracy"]) for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
