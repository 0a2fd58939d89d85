"""The EasyTransfer paper's Table 9 protocol on the multi-domain Amazon reviews (issue 13):
instance-based transfer (bayes, RTL, MGTL) against its baselines, from gallery recipes, into
docs/results/.

    python scripts/experiments/instance_tl.py [--quick] [--methods M ...] [--targets D ...]
        [--seeds S ...] [--shared ../shared/data] [--out runs/experiments/instance-tl]
        [--set K=V] [--report FILE]

For each target domain, 5 % of its training reviews (seeded) are the target data and a seeded
sample of the other three domains' reviews is the source; every method trains from its gallery
recipe with the overrides of the Table 8 script (`study.py`: the same data layout, sizes and
budget for all), the selectors also with `data.target_domain=<target>` (their recipes say
books), and is scored on the target's dev reviews: accuracy and macro-F1, mean ± std over seeds.
For the selectors the report also gives the share of each source domain they kept (from
RUN/selection/pick.jsonl, read as `etdecl report` reads it) and bayes's proxy accuracy. Runs
train one at a time in this process, each into <out>/<target>/<method>/seed<S>; a finished run
is reused, so an interrupted protocol continues where it stopped.

Time (2 cores): 72 trainings. From the Table 8 run's wall times (docs/results/feature-tl.md, 108
runs in 81.8 min; medians Tgt-Only 35 s, Src-Only 31 s, Mixed 39 s) a training costs about 12 s
fixed, 0.26 s per step and 0.01 s per dev row evaluated. Here: Tgt-Only 25 steps (80 rows × 5
epochs) and 5 evaluations of 200 rows, ~29 s; Src-Only ~31 s; Mixed 65 steps, 3 evaluations of
296 rows, ~38 s; bayes ~44 s (35 steps on half the source, plus pooled features of ~1,240 rows
and 40 proxy fits); RTL and MGTL ~55 s each (65 steps, 8 evaluations: one per 10-step episode
and one at step 0). About 250 s per target and seed, 51 min in all, ~60 min with the slack the
Table 8 run needed (its mean was 20 % above its medians). That is in bf16 on cores with bf16
units; on a CPU without them (AVX2 only, where bf16 autocast is about 20× slower) every run
trains in fp32 instead (`study.precision`), which takes longer than this estimate.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import study  # noqa: E402  (the protocol the Table 8 and Table 9 scripts share)
from study import (  # noqa: E402
    BASELINES,
    DOMAINS,
    SOURCE,
    TARGET,
    Method,
    commands,
    commit,
    mean_over_targets,
    mean_std,
    metric_tables,
    plot,
    run_all,
    summarise,
    wall_line,
)


@dataclass(frozen=True)
class Budget(study.Budget):
    """Table 8's budget with 5 % of the target (this protocol's share), plus the selectors'."""

    target_fraction: float = 0.05
    eval_every: int = 10
    """Every method evaluates (and may pick its best checkpoint) as often as the RL selectors
    end episodes, so none gets more draws at the target dev set than another."""
    episode_every: int = 10
    """RTL/MGTL: steps per episode (their recipes' `train.eval_every`): the delayed reward is
    the change of target dev accuracy over it."""
    bayes_trials: int = 40
    """bayes: Bayesian-optimisation trials (its recipe's)."""


QUICK = Budget(source_rows=64, source_dev_rows=16, target_dev_rows=32, target_fraction=0.02,
               target_epochs=1, max_steps=4, eval_every=4, episode_every=2, bayes_trials=4)

_SELECTS = ("data.target_domain={target}",)
_EPISODES = _SELECTS + ("train.eval_every={budget.episode_every}",
                        "train.checkpoint_every={budget.eval_every}")
"""RL selectors evaluate once per episode; they checkpoint as often as the other methods."""

METHODS = {
    **BASELINES,
    "bayes": Method("bayes-amazon", (SOURCE, TARGET),
                    extra=_SELECTS + ("selectors.pick.trials={budget.bayes_trials}",)),
    "RTL": Method("rtl-amazon", (SOURCE, TARGET), extra=_EPISODES),
    "MGTL": Method("mgtl-amazon", (SOURCE, TARGET), extra=_EPISODES),
}
SELECTORS = ("bayes", "RTL", "MGTL")
SEEDS = [1, 2, 3]
"""The protocol's seeds (mean ± std over them)."""


# ── what the selectors kept ──────────────────────────────────────────────────────────────────

def selection_record(run_dir: Path) -> dict[str, Any]:
    """From the run's selection log: per source domain the share of its judgements that kept
    the example over the whole run (`keep`), in the first and the last episode; for bayes its
    proxy model's target dev accuracy on the choice, on all source and on the target alone.
    Empty when the run has no selector."""
    from etdecl.report.jsonl_files import read_selection_log
    from etdecl.report.keep_rates import ALL, selection_history

    logs = sorted((run_dir / "selection").glob("*.jsonl"))
    if not logs:
        return {}
    records, _ = read_selection_log(logs[0])
    history = selection_history(logs[0], records)
    episodes = history.episodes
    judged = {d: sum(e.shares[d].judged for e in episodes if d in e.shares)
              for d in [*history.domains, ALL]}
    kept = {d: sum(e.shares[d].kept for e in episodes if d in e.shares) for d in judged}
    out: dict[str, Any] = {
        "selector": history.type, "episodes": len(episodes),
        "judged": judged[ALL] if episodes else 0,
        "keep": {d: kept[d] / judged[d] for d in judged if judged[d]},
    }
    if episodes:
        for key, e in (("keep_first", episodes[0]), ("keep_last", episodes[-1])):
            out[key] = {d: s.rate for d, s in e.shares.items() if s.judged}
    reference = history.extra.get("reference")
    if history.type == "bayes" and episodes and isinstance(reference, dict):
        out["proxy"] = {"selected": episodes[0].metric, **reference}
    return out


def keep_table(records: list[dict], methods: list[str], targets: list[str]) -> list[str]:
    """Markdown lines: per selector and target, each source domain's kept share (mean ± std
    over seeds) over the whole run; RL selectors also first → last episode."""
    lines = ["| selector | target | " + " | ".join(DOMAINS) + " | all | episodes |",
             "|" + "---|" * (len(DOMAINS) + 4)]
    for m in methods:
        for t in targets:
            rs = [r for r in records if (r["method"], r["target"]) == (m, t) and r.get("keep")]
            if not rs:
                continue
            cells = []
            for d in [*DOMAINS, "all"]:
                values = [r["keep"][d] for r in rs if d in r["keep"]]
                if not values:
                    cells.append("-")
                    continue
                mean, std = mean_std(values)
                cell = f"{mean:.0%} ± {std:.0%}"
                if rs[0]["episodes"] > 1:
                    first = statistics.fmean(r["keep_first"].get(d, math.nan) for r in rs)
                    last = statistics.fmean(r["keep_last"].get(d, math.nan) for r in rs)
                    cell += f" ({first:.0%} → {last:.0%})"
                cells.append(cell)
            episodes = statistics.fmean(r["episodes"] for r in rs)
            lines.append(f"| {m} | {t} | " + " | ".join(cells) + f" | {episodes:.0f} |")
    return lines + [""]


def proxy_table(records: list[dict], targets: list[str]) -> list[str]:
    """Markdown lines: bayes's proxy (logistic regression on pooled features) target dev
    accuracy on its choice, on all source rows and on the target's alone; mean over seeds."""
    lines = ["| target | selected | all source | target only |", "|---|---|---|---|"]
    keys = ("selected", "all_source", "target_only")
    for t in targets:
        rs = [r["proxy"] for r in records if r["method"] == "bayes" and r["target"] == t
              and r.get("proxy")]
        if rs:
            cells = [f"{statistics.fmean(p[k] for p in rs):.4f}"
                     if all(isinstance(p.get(k), (int, float)) for p in rs) else "-"
                     for k in keys]
            lines.append(f"| {t} | " + " | ".join(cells) + " |")
    return lines + [""] if len(lines) > 2 else []


def plot_keep(records: list[dict], methods: list[str], targets: list[str], png: Path) -> None:
    """One panel per target: each selector's kept share per source domain (mean over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(targets), figsize=(max(5.5, 3.2 * len(targets) + 1), 3.6),
                             squeeze=False, sharey=True)
    width = 0.8 / max(1, len(methods))
    for ax, t in zip(axes[0], targets, strict=True):
        sources = [d for d in DOMAINS if d != t]
        for i, m in enumerate(methods):
            rs = [r for r in records if (r["method"], r["target"]) == (m, t) and r.get("keep")]
            if rs:
                ys = [statistics.fmean(r["keep"].get(d, 0.0) for r in rs) for d in sources]
                ax.bar([j + i * width for j in range(len(sources))], ys, width, label=m)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(sources))], sources, fontsize=8)
        ax.set_title(f"target {t}", fontsize=9)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("share of source reviews kept")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Source reviews the selectors kept (mean over seeds)", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


# ── the paper's orderings ────────────────────────────────────────────────────────────────────

def _verdict(ok: bool) -> str:
    return "yes" if ok else "no"


def orderings(table: dict, methods: list[str], targets: list[str]) -> list[str]:
    """Whether the paper's Table 9 orderings hold, per target and on the mean over targets, on
    mean accuracy: every selection method at or above Mixed, Mixed above Src-Only and
    Tgt-Only, MGTL at or above RTL and bayes (the paper: "MGTL achieves better performance than
    the method in (Ruder and Plank, 2017) and also the vanilla RTL method")."""
    lines = []
    mean = mean_over_targets(table, methods, targets)
    for t, acc in [(t, {m: table[(m, t)]["accuracy"][0] for m in methods if (m, t) in table})
                   for t in targets] + [("mean over targets", mean)]:
        selectors = [m for m in SELECTORS if m in acc]
        if "Mixed" in acc:
            mixed = acc["Mixed"]
            if selectors:
                below = [m for m in selectors if acc[m] < mixed]
                lines.append(f"- {t}: every selection method ≥ Mixed ({mixed:.4f}): "
                             + ("yes" if not below else "no (" + ", ".join(
                                 f"{m} {acc[m]:.4f}" for m in below) + " below)"))
            for base in ("Src-Only", "Tgt-Only"):
                if base in acc:
                    lines.append(f"- {t}: Mixed > {base} ({acc[base]:.4f}): "
                                 + _verdict(mixed > acc[base]))
        for other in ("RTL", "bayes"):
            if other in acc and "MGTL" in acc:
                lines.append(f"- {t}: MGTL ({acc['MGTL']:.4f}) ≥ {other} ({acc[other]:.4f}): "
                             + _verdict(acc["MGTL"] >= acc[other]))
    return lines


# ── the report ───────────────────────────────────────────────────────────────────────────────

def write_report(records: list[dict], args: argparse.Namespace, wall: float, budget: Budget,
                 report: Path, skipped: list[str]) -> None:
    table = summarise(records)
    methods = [m for m in args.methods if any(k[0] == m for k in table)]
    targets = [t for t in args.targets if any(k[1] == t for k in table)]
    selectors = [m for m in methods if m in SELECTORS]
    png, keep_png = report.with_suffix(".png"), report.with_name(report.stem + "-keep.png")
    share = f"{budget.target_fraction:.0%}"
    rl = [r["episodes"] for r in records if r["method"] in ("RTL", "MGTL") and "episodes" in r]
    episodes = statistics.fmean(rl) if rl else None
    plot(table, methods, targets, png,
         f"Table 9 protocol: {share} of the target domain, the other three as source")
    lines = [
        "# Instance-based transfer: the paper's Table 9 protocol",
        "",
        f"Written by `python scripts/experiments/instance_tl.py {' '.join(args.argv)}` "
        f"(commit {commit()}, data `{args.shared}`), {len(records)} runs, "
        f"{sum(r['wall_s'] for r in records) / 60:.1f} min of training wall time in all "
        f"({wall / 60:.1f} min in the invocation that wrote this; finished runs are reused); seeds "
        f"{', '.join(map(str, args.seeds))} (`train.seed` and `data.split_seed`: the seed also "
        f"draws the target's {share} and the source sample, and seeds the selectors).",
        "",
        f"Protocol: for each target domain, {share} of its training reviews and a seeded sample "
        f"of {budget.source_rows} of the other three domains' training reviews (the source); "
        f"scored on the target's dev reviews (all {args.dev_rows}), with the best checkpoint by "
        "target dev accuracy"
        + (f" on {budget.target_dev_rows} of them" if budget.target_dev_rows else "")
        + " (Src-Only: by source dev accuracy, no target label seen). Tgt-Only, Src-Only and "
        "Mixed are the Table 8 baselines; bayes (Ruder & Plank 2017) trains Mixed on the half "
        "of the source its features score best, the feature weights tuned by "
        f"{budget.bayes_trials} trials of Bayesian optimisation on a proxy model's target dev "
        "accuracy; RTL keeps or drops each source review of a batch by a REINFORCE policy "
        f"rewarded per {budget.episode_every}-step episode by the change of target dev accuracy "
        "(less a moving-average baseline); MGTL adds a discriminator between kept source and "
        "target reviews whose output is an immediate reward every step.",
        "",
        "What is scaled, against the paper: its Table 9 measures item recommendation and text "
        "matching (Qu et al. 2019's data and models), with \"TL Method\" (Mou et al. 2016) "
        "where Mixed is here; this protocol runs the same methods on Table 8's Amazon reviews, "
        f"with MiniLM-L6 (embeddings and lower {budget.freeze_layers} layers frozen), "
        f"{budget.source_rows} source reviews of the 4,800, max_length "
        f"{budget.max_length}, {study.precision()}, bucketed batches of {budget.batch_size}, "
        "AdamW at lr "
        f"{budget.lr:g} with {budget.warmup:.0%} warmup, {budget.source_epochs} epoch over "
        f"source data or {budget.target_epochs} over the target's alone (the same for every "
        "method)" + (f"; so RTL and MGTL learned from {episodes:.0f} episodes per run on "
                     "average" if episodes else "") + ". The 72 trainings of the default "
        "invocation were estimated at about 60 minutes on 2 cores with bf16 units from the "
        "Table 8 run's wall times (the script's docstring).",
        "",
    ]
    full = len(DOMAINS) * len(METHODS) * len(SEEDS)
    if len(targets) < len(DOMAINS) or len(args.seeds) < len(SEEDS) or len(methods) < len(METHODS):
        per = statistics.fmean(r["wall_s"] for r in records)
        lines += [f"Scaled for this invocation: {len(targets)} of the {len(DOMAINS)} target "
                  f"domains ({', '.join(targets)}), {len(args.seeds)} seed(s), {len(methods)} "
                  f"of the {len(METHODS)} methods. A training took {per:.0f} s on average "
                  f"here ({study.precision()}), so the full {full} would take about "
                  f"{full * per / 60:.0f} min.", ""]
    if args.extra:
        lines += ["Changed for every run, after the budget above: "
                  + ", ".join(f"`{x}`" for x in args.extra) + ".", ""]
    if skipped:
        lines += [f"Skipped (recipe missing): {', '.join(skipped)}.", ""]
    lines += metric_tables(table, methods, targets)
    if selectors:
        lines += ["## Share of each source domain kept (mean ± std over seeds)", "",
                  "Per selector and target: of the source reviews the selector judged, the share "
                  "of each domain it kept, over the whole run (bayes: its one choice before "
                  "training; RTL/MGTL: every judgement of every episode, with the mean over "
                  "seeds of the first → the last episode in brackets). `etdecl report RUN` "
                  "prints one run's keep rates per episode.", "",
                  *keep_table(records, selectors, targets),
                  f"![share of each source domain kept]({keep_png.name})", ""]
        plot_keep(records, selectors, targets, keep_png)
    proxy = proxy_table(records, targets)
    if proxy:
        lines += ["## bayes: the proxy model's target dev accuracy (mean over seeds)", "",
                  "Logistic regression on MiniLM's pooled features (as training starts), "
                  "trained on the chosen source reviews plus the target's, on all source "
                  "reviews plus the target's, or on the target's alone; Bayesian optimisation "
                  "maximises the first.", "", *proxy]
    lines += ["## Orderings", "", "The paper's Table 9: selection methods ≥ Mixed (its \"TL "
              "Method\") > Src-Only and Tgt-Only; MGTL ≥ RTL and MGTL ≥ Ruder & Plank (bayes). "
              "On mean accuracy over seeds:", "",
              *orderings(table, methods, targets), "", wall_line(records), "",
              f"![target dev accuracy]({png.name})", "", "## Commands", "",
              *commands(records)]
    report.write_text("\n".join(lines) + "\n")
    print(f"wrote {report}, {png}" + (f" and {keep_png}" if selectors else ""),
          file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 target, 1 seed, tiny sizes, 4 steps")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--targets", nargs="+", default=DOMAINS, choices=DOMAINS)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    default_shared = os.environ.get("ETDECL_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--shared", type=Path, default=Path(default_shared))
    parser.add_argument("--out", type=Path,
                        default=ROOT / "runs" / "experiments" / "instance-tl")
    parser.add_argument("--set", dest="extra", action="append", default=[], metavar="K=V",
                        help="another override for every run, after the protocol's "
                        "(e.g. data.max_length=64)")
    parser.add_argument("--report", type=Path, default=None,
                        help="default docs/results/instance-tl.md (--quick: in --out)")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    budget = QUICK if args.quick else Budget()
    if args.quick:
        args.targets, args.seeds = args.targets[:1], args.seeds[:1]
        args.out = args.out.with_name(args.out.name + "-quick")
    if not (args.shared / "multi_domain_sentiment" / "train.jsonl").is_file():
        raise SystemExit(f"no multi_domain_sentiment data under {args.shared} (--shared)")
    args.shared = args.shared.resolve()
    args.dev_rows = study.target_rows(args.shared / "multi_domain_sentiment" / "dev.jsonl",
                                      args.targets[0], 1.0)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report = args.report or (args.out / "instance-tl.md" if args.quick
                             else ROOT / "docs" / "results" / "instance-tl.md")
    report.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    records, skipped = run_all(METHODS, args, budget,
                               {name: selection_record for name in SELECTORS})
    if not records:
        raise SystemExit("nothing ran")
    write_report(records, args, time.perf_counter() - started, budget, report, skipped)
    return 0 if all(math.isfinite(r["accuracy"]) for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
