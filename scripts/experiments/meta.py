"""The EasyTransfer paper's Table 11 protocol on the MultiNLI genre subset (issue 13): fine-tuning
with and without a meta-learner (MetaFT; MetaDTL with review sentiment as the auxiliary task),
from gallery recipes, into docs/results/meta.md (+ a PNG).

    python scripts/experiments/meta.py [--quick] [--genres G ...] [--fractions F ...]
        [--seeds S ...] [--no-metadtl] [--shared ../shared/data] [--out runs/experiments/meta]
        [--set K=V] [--report PATH]

For each seed and training fraction (5 %, 10 %, 20 %), a seeded sample of that fraction of each
genre's training pairs is written once; then
- Fine-tune: recipes/finetune-mnli.yaml on one genre's sampled pairs, from MiniLM-L6, picked
  on and scored by that genre's dev pairs, for every genre;
- MetaFT: the first stage of recipes/metaft-mnli.yaml (the meta-teacher over all five genres'
  sampled pairs: typicality weights, domain corruption) trained once per fraction, then the
  same fine-tuning from its last checkpoint for every genre (its second stage);
- MetaDTL: the first stage of recipes/metadtl-nli-sentiment.yaml (the sampled NLI pairs and a
  sample of Amazon reviews, two heads, task-typicality weights, task corruption) once per
  fraction, then the same fine-tuning for every genre.
The fine-tuning runs of the three rows differ only in their starting weights (`train.init_from`
= the meta-learner's run, checkpoint `last`, as the staged recipes' `start: last`). Runs train
one at a time in this process into <out>/seed<S>/<fraction>/...; a finished run is reused, so an
interrupted protocol continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from study import commit, precision, train_one  # noqa: E402  (the scripts' shared helpers)

GENRES = ["fiction", "government", "slate", "telephone", "travel"]
FRACTIONS = [0.05, 0.10, 0.20]
FT, METAFT, METADTL = "Fine-tune", "MetaFT", "MetaDTL"
RECIPES = {FT: "finetune-mnli", METAFT: "metaft-mnli", METADTL: "metadtl-nli-sentiment"}
"""Each row's gallery recipe (the meta rows: the first stage trains the meta-learner, the last
is the fine-tuning, which is finetune-mnli's training)."""


@dataclass(frozen=True)
class Budget:
    """What every run trains on and how, so the whole protocol fits about 90 minutes on 2 cores
    (MiniLM-L6 with its embeddings and lower 3 layers frozen, bf16: the recipes' own)."""

    max_length: int = 128
    batch_size: int = 16
    finetune_epochs: int = 3
    """Epochs over one genre's sampled pairs (5 %: about 200 pairs, 13 steps an epoch)."""
    meta_epochs: int = 2
    """Epochs of the meta-learners over all five genres' sampled pairs."""
    meta_dev_rows: int = 250
    """Dev pairs of all genres the meta stages report on (their checkpoint is not picked:
    fine-tuning starts from the last)."""
    aux_rows: int = 1600
    """MetaDTL's auxiliary task: a seeded sample of the 6,400 Amazon training reviews."""
    aux_dev_rows: int = 100
    target_dev_rows: int | None = None
    """None: all of the genre's dev pairs (about 500)."""
    eval_every: int = 100
    """Fine-tuning evaluates at step 0 (from the meta-learner), each epoch's end, and every
    `eval_every` steps."""
    meta_eval_every: int = 1000
    """The meta-learners evaluate at each epoch's end only (for the record)."""
    max_steps: int | None = None
    extra: tuple[str, ...] = field(default_factory=tuple)


QUICK = Budget(max_length=32, batch_size=8, finetune_epochs=1, meta_epochs=1, meta_dev_rows=16,
               aux_rows=24, aux_dev_rows=8, target_dev_rows=16,
               eval_every=4, meta_eval_every=4, max_steps=3)
QUICK_FRACTIONS = [0.002, 0.004]
"""--quick: 8 and 16 pairs of a genre (a few steps each)."""


def pct(fraction: float) -> str:
    return f"{100 * fraction:g} %"


def sample(shared: Path, fraction: float, seed: int, out: Path) -> Path:
    """A seeded sample of `fraction` of each genre's training pairs (at least 8), in file
    order, written once to <out>/data/seed<S>-<fraction>.jsonl."""
    path = out / "data" / f"seed{seed}-{fraction:g}.jsonl"
    if path.is_file():
        return path
    lines = (shared / "mnli_genre_subset" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    by_genre: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        if line.strip():
            by_genre.setdefault(json.loads(line)["domain"], []).append(i)
    keep: set[int] = set()
    for genre, rows in sorted(by_genre.items()):
        rng = random.Random(f"{seed}-{fraction}-{genre}")
        keep.update(rng.sample(rows, max(8, round(fraction * len(rows)))))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines[i] + "\n" for i in sorted(keep)), encoding="utf-8")
    return path


def target_sets(data: Path, genre: str, seed: int, budget: Budget, shared: Path) -> list[str]:
    """Overrides that make the `target` set one genre's sampled pairs (all of them), scored on
    the genre's dev pairs, with the protocol's seed and budget."""
    dev = {"path": str(shared / "mnli_genre_subset" / "dev.jsonl")}
    if budget.target_dev_rows:
        dev["limit"] = budget.target_dev_rows
    out = [f"data.sets.target.train={json.dumps({'path': str(data)})}",
           f"data.sets.target.dev={json.dumps(dev)}",
           f"data.sets.target.where={json.dumps({'domain': [genre]})}",
           f"data.split_seed={seed}", f"data.max_length={budget.max_length}",
           f"train.seed={seed}", f"train.batch_size={budget.batch_size}",
           f"train.eval_every={budget.eval_every}", f"train.metric=nli.accuracy[{genre}]",
           f"parallel.precision={precision()}"]
    if budget.max_steps:
        out.append(f"train.max_steps={budget.max_steps}")
    return out


def finetune_sets(data: Path, genre: str, seed: int, budget: Budget, shared: Path,
                  meta_run: Path | None, start: str = "last") -> list[str]:
    """finetune-mnli.yaml's overrides: the genre's pairs, and the meta-learner to start from."""
    out = target_sets(data, genre, seed, budget, shared)
    out.append(f"train.epochs={budget.finetune_epochs}")
    if meta_run is not None:
        out += [f"train.init_from={meta_run}", f"train.init_checkpoint={start}"]
    return out + list(budget.extra)


def meta_sets(recipe: Path, data: Path, seed: int, budget: Budget, shared: Path) -> list[str]:
    """A meta recipe's first stage (the meta-learner alone: the stage's own overrides, as a
    staged run gives them), on every genre's sampled pairs, at the protocol's budget."""
    from etdecl.engine.stages import stage_overrides
    from etdecl.recipe.validate import load_recipe

    loaded = load_recipe(recipe, check_data=False)
    sets = stage_overrides(loaded, 0, None)
    nli = "meta" if "meta" in loaded.recipe.data.sets else "nli"
    mnli_dev = str(shared / "mnli_genre_subset" / "dev.jsonl")
    sets += target_sets(data, GENRES[0], seed, budget, shared)
    sets += [f"data.sets.{nli}.train={json.dumps({'path': str(data)})}",
             f"data.sets.{nli}.dev={json.dumps({'path': mnli_dev, 'limit': budget.meta_dev_rows})}",
             f"train.epochs={budget.meta_epochs}",
             f"train.eval_every={budget.meta_eval_every}"]
    if "reviews" in loaded.recipe.data.sets:
        folder = shared / "multi_domain_sentiment"
        sets += [f"data.sets.reviews.train="
                 f"{json.dumps({'path': str(folder / 'train.jsonl'), 'limit': budget.aux_rows})}",
                 f"data.sets.reviews.dev="
                 f"{json.dumps({'path': str(folder / 'dev.jsonl'), 'limit': budget.aux_dev_rows})}"]
    return sets + list(budget.extra)


def finetune_start(recipe: Path) -> str:
    """Which checkpoint of the meta stage a staged recipe's fine-tuning starts from."""
    from etdecl.recipe.validate import load_recipe

    return load_recipe(recipe, check_data=False).recipe.stages[-1].start


def _trained(recipe: Path, sets: list[str], run_dir: Path) -> float:
    if (run_dir / "experiment.json").is_file():
        return json.loads((run_dir / "experiment.json").read_text())["wall_s"]
    if run_dir.exists():
        raise SystemExit(f"{run_dir} holds an unfinished run without experiment.json; "
                         "remove it (or resume it with etdecl train --resume)")
    wall = train_one(recipe, sets, run_dir)
    command = f"etdecl train {recipe.relative_to(ROOT)} --run-dir {run_dir}" + "".join(
        f" --set '{s}'" for s in sets)
    (run_dir / "experiment.json").write_text(json.dumps(
        {"wall_s": round(wall, 1), "command": command}, indent=2))
    return wall


def finetune(row: str, genre: str, fraction: float, seed: int, data: Path, budget: Budget,
             shared: Path, out: Path, meta_run: Path | None, start: str) -> dict:
    """One fine-tuning run (from MiniLM, or from a meta-learner) and its record: the best dev
    accuracy on the genre's dev pairs (the checkpoint picked on them)."""
    run_dir = out / f"seed{seed}" / f"{fraction:g}" / row / genre
    recipe = ROOT / "recipes" / f"{RECIPES[FT]}.yaml"
    sets = finetune_sets(data, genre, seed, budget, shared, meta_run, start)
    wall = _trained(recipe, sets, run_dir)
    result = json.loads((run_dir / "result.json").read_text())
    key = f"nli.accuracy[{genre}]"
    record = {"row": row, "genre": genre, "fraction": fraction, "seed": seed,
              "accuracy": float(result["best_eval"][key]), "best_step": result["best_eval"]
              .get("step"), "steps": result.get("step"), "wall_s": round(wall, 1),
              "train_rows": sum(1 for line in data.read_text().splitlines()
                                if json.loads(line)["domain"] == genre),
              "command": json.loads((run_dir / "experiment.json").read_text())["command"]}
    print(f"{row} {genre} {pct(fraction)} seed {seed}: accuracy {record['accuracy']:.4f}, "
          f"{wall:.0f} s", file=sys.stderr)
    return record


def meta_learner(row: str, fraction: float, seed: int, data: Path, budget: Budget,
                 shared: Path, out: Path) -> tuple[Path, dict]:
    run_dir = out / f"seed{seed}" / f"{fraction:g}" / row / "meta-learner"
    recipe = ROOT / "recipes" / f"{RECIPES[row]}.yaml"
    wall = _trained(recipe, meta_sets(recipe, data, seed, budget, shared), run_dir)
    metrics = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [m for m in metrics if m.get("split") == "train"]  # the logged steps
    record = {"row": row, "fraction": fraction, "seed": seed, "wall_s": round(wall, 1),
              "steps": json.loads((run_dir / "result.json").read_text()).get("step"),
              "typicality_mean": statistics.fmean(m["typicality.mean"] for m in train
                                                  if "typicality.mean" in m),
              "corruption_last": train[-1].get("loss.corruption"),
              "command": json.loads((run_dir / "experiment.json").read_text())["command"]}
    print(f"{row} meta-learner {pct(fraction)} seed {seed}: {record['steps']} steps, "
          f"{wall:.0f} s",
          file=sys.stderr)
    return run_dir, record


# ── the report ───────────────────────────────────────────────────────────────────────────────


def table(records: list[dict]) -> dict[tuple[str, float, str], float]:
    """(row, fraction, genre) → accuracy, the mean over seeds."""
    groups: dict[tuple[str, float, str], list[float]] = {}
    for r in records:
        groups.setdefault((r["row"], r["fraction"], r["genre"]), []).append(r["accuracy"])
    return {k: statistics.fmean(v) for k, v in groups.items()}


def genre_means(cells: dict, rows: list[str], fractions: list[float], genres: list[str]
                ) -> dict[tuple[str, float], float]:
    return {(row, f): statistics.fmean(cells[(row, f, g)] for g in genres)
            for row in rows for f in fractions if all((row, f, g) in cells for g in genres)}


def orderings(cells: dict, rows: list[str], fractions: list[float],
              genres: list[str]) -> list[str]:
    """Whether the paper's ordering holds on the mean over genres: each meta row at least as
    good as plain fine-tuning at every fraction, and its gain largest at the smallest fraction;
    and how many (genre, fraction) cells it wins."""
    means = genre_means(cells, rows, fractions, genres)
    lines = []
    for row in [r for r in rows if r != FT]:
        gains = {f: means[(row, f)] - means[(FT, f)] for f in fractions
                 if (row, f) in means and (FT, f) in means}
        if not gains:
            continue
        at_least = [f for f, g in gains.items() if g >= 0]
        wins = sum(1 for f in fractions for g in genres if (row, f, g) in cells
                   and (FT, f, g) in cells and cells[(row, f, g)] >= cells[(FT, f, g)])
        total = sum(1 for f in fractions for g in genres if (row, f, g) in cells
                    and (FT, f, g) in cells)
        shown = ", ".join(f"{pct(f)} {g:+.4f}" for f, g in gains.items())
        below = ", ".join(pct(f) for f in gains if f not in at_least)
        lines.append(f"- {row} ≥ fine-tuning on the mean over genres: "
                     + ("yes, at every fraction" if not below else f"no (below at {below})")
                     + f"; gains {shown}; {wins} of {total} (genre, fraction) cells at least "
                     "as good.")
        if len(gains) > 1:
            smallest = min(gains)
            largest = max(gains, key=gains.get)
            lines.append(f"- {row}'s gain largest at the smallest fraction ({pct(smallest)}): "
                         + ("yes" if largest == smallest else f"no (largest at {pct(largest)})")
                         + ".")
    return lines


def plot(cells: dict, rows: list[str], fractions: list[float], genres: list[str],
         png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(genres) + 1, figsize=(3 * (len(genres) + 1), 3.4),
                             sharey=True)
    means = genre_means(cells, rows, fractions, genres)
    panels = [(g, {(r, f): cells[(r, f, g)] for r in rows for f in fractions
                   if (r, f, g) in cells}) for g in genres] + [("mean over genres", means)]
    for ax, (title, values) in zip(axes, panels, strict=True):
        for row in rows:
            xs = [100 * f for f in fractions if (row, f) in values]
            ax.plot(xs, [values[(row, f)] for f in fractions if (row, f) in values],
                    marker="o", label=row)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("% of each genre's training pairs")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("dev accuracy (best checkpoint)")
    axes[-1].legend(fontsize=7)
    fig.suptitle("Table 11 protocol: MultiNLI genres, fine-tuning with and without a "
                 "meta-learner", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def write_report(records: list[dict], metas: list[dict], args: argparse.Namespace,
                 budget: Budget, wall: float, report: Path) -> None:
    cells = table(records)
    rows = [r for r in (FT, METAFT, METADTL) if any(k[0] == r for k in cells)]
    fractions = sorted({k[1] for k in cells})
    genres = [g for g in args.genres if any(k[2] == g for k in cells)]
    png = report.with_suffix(".png")
    plot(cells, rows, fractions, genres, png)
    means = genre_means(cells, rows, fractions, genres)
    total = sum(r["wall_s"] for r in records + metas)
    lines = [
        "# Meta learning: the paper's Table 11 protocol, scaled",
        "",
        f"Written by `python scripts/experiments/meta.py {' '.join(sys.argv[1:])}` (commit "
        f"{commit()}, data `{args.shared}`), {len(records)} fine-tuning runs and {len(metas)} "
        f"meta-learners, {total / 60:.1f} min of training wall time in all ({wall / 60:.1f} "
        "min in the invocation that wrote this; finished runs are reused); seeds "
        f"{', '.join(map(str, args.seeds))} (the seed draws the sampled pairs and seeds "
        "training).",
        "",
        "Protocol: for each fraction, a seeded sample of that share of each MultiNLI genre's "
        "training pairs. Fine-tune: MiniLM-L6 (recipes/finetune-mnli.yaml) trained on one "
        f"genre's sampled pairs for {budget.finetune_epochs} epoch(s), the checkpoint picked on "
        "that genre's dev pairs"
        + (f" ({budget.target_dev_rows} of them)" if budget.target_dev_rows else
           " (all of them, about 500)")
        + " and scored by the same figure. MetaFT: the meta-teacher stage of "
        "recipes/metaft-mnli.yaml (typicality-weighted over class × genre prototypes, with a "
        f"domain-corruption loss) trained once per fraction for {budget.meta_epochs} epoch(s) on "
        "all five genres' sampled pairs, then the same fine-tuning from its last checkpoint for "
        "each genre. MetaDTL: the meta stage of recipes/metadtl-nli-sentiment.yaml (the same "
        f"NLI pairs plus {budget.aux_rows} Amazon reviews as a second task with its own head; "
        "task-typicality weights and task corruption), then the same fine-tuning. Budget for "
        f"every run: max_length {budget.max_length}, {precision()}, bucketed batches of "
        f"{budget.batch_size}, lr 2e-4 with 10 % warmup, MiniLM's embeddings and lower 3 of 6 "
        "layers frozen. Scaled down from the paper: MiniLM-L6, not BERT-base; this 20k-pair "
        "genre subset of MultiNLI, not the full corpus; scored on dev pairs (the test split is "
        "held back); one meta-learner per fraction, not per target genre"
        + ("; one seed" if len(args.seeds) == 1 else "") + ".",
        "",
    ]
    if budget.extra:
        lines += ["Changed for every run: " + ", ".join(f"`{x}`" for x in budget.extra) + ".",
                  ""]
    for f in fractions:
        lines += [f"## {pct(f)} of each genre's training pairs", "",
                  "| row | " + " | ".join(genres) + " | mean |",
                  "|" + "---|" * (len(genres) + 2)]
        for row in rows:
            got = [f"{cells[(row, f, g)]:.4f}" if (row, f, g) in cells else "-" for g in genres]
            mean = f"{means[(row, f)]:.4f}" if (row, f) in means else "-"
            lines.append(f"| {row} | " + " | ".join(got) + f" | {mean} |")
        n = sorted({r["train_rows"] for r in records if r["fraction"] == f})
        lines += ["", f"Training pairs per genre: {n[0]}–{n[-1]}.", ""]
    lines += ["## Orderings", "", *orderings(cells, rows, fractions, genres), "",
              f"![dev accuracy by fraction]({png.name})", "", "## Meta-learners", "",
              "| row | fraction | seed | steps | mean typicality | last corruption loss | "
              "wall time |", "|---|---|---|---|---|---|---|"]
    for m in metas:
        corr = "-" if m["corruption_last"] is None else f"{m['corruption_last']:.4f}"
        lines.append(f"| {m['row']} | {pct(m['fraction'])} | {m['seed']} | {m['steps']} | "
                     f"{m['typicality_mean']:.4f} | {corr} | {m['wall_s']:.0f} s |")
    times = [r["wall_s"] for r in records]
    lines += ["", f"Fine-tuning wall time per run (model load, tokenising, training, "
              f"evaluations): mean {statistics.fmean(times):.0f} s, min {min(times):.0f} s, "
              f"max {max(times):.0f} s.", "", "## Commands", "",
              "The meta-learners:", ""]
    lines += [f"- {m['row']} {pct(m['fraction'])} seed {m['seed']}: `{m['command']}`"
              for m in metas]
    first = (records[0]["genre"], records[0]["fraction"], records[0]["seed"])
    lines += ["", f"The fine-tuning runs of {first[0]}, {pct(first[1])}, seed {first[2]} (the "
              "others differ in the genre, the sample and the run directory):", ""]
    lines += [f"- {r['row']}: `{r['command']}`" for r in records
              if (r["genre"], r["fraction"], r["seed"]) == first]
    report.write_text("\n".join(lines) + "\n")
    print(f"wrote {report} and {png}", file=sys.stderr)


def budget_changes(items: list[str], parser: argparse.ArgumentParser) -> dict[str, int]:
    """`--budget FIELD=N` items as Budget fields (integers only: epochs, rows, cadences)."""
    numbers = {f for f, v in Budget.__dataclass_fields__.items() if v.type in ("int", "int | None")}
    out: dict[str, int] = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in numbers or not value.lstrip("-").isdigit():
            parser.error(f"--budget {item}: expected FIELD=N with FIELD one of "
                         f"{', '.join(sorted(numbers))}")
        out[key] = int(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 genre, 2 tiny fractions, tiny sizes, 3 steps")
    parser.add_argument("--genres", nargs="+", default=GENRES, choices=GENRES)
    parser.add_argument("--fractions", nargs="+", type=float, default=None,
                        help="default 0.05 0.10 0.20")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--no-metadtl", dest="metadtl", action="store_false",
                        help="leave out the MetaDTL row")
    default_shared = os.environ.get("ETDECL_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--shared", type=Path, default=Path(default_shared))
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "experiments" / "meta")
    parser.add_argument("--set", dest="extra", action="append", default=[], metavar="K=V",
                        help="another override for every run, after the protocol's")
    parser.add_argument("--report", type=Path, default=None,
                        help="default docs/results/meta.md (--quick: in --out)")
    parser.add_argument("--budget", dest="budget", action="append", default=[],
                        metavar="FIELD=N", help="change one number of the protocol's budget "
                        "(e.g. meta_epochs=1); the report states the budget it ran")
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else Budget()
    budget = Budget(**{**budget.__dict__, "extra": tuple(args.extra),
                       **budget_changes(args.budget, parser)})
    fractions = args.fractions or (QUICK_FRACTIONS if args.quick else FRACTIONS)
    if args.quick:
        args.genres, args.seeds = args.genres[:1], args.seeds[:1]
        args.out = args.out.with_name(args.out.name + "-quick")
    for folder in ("mnli_genre_subset",) + (("multi_domain_sentiment",) if args.metadtl else ()):
        if not (args.shared / folder / "train.jsonl").is_file():
            raise SystemExit(f"no {folder} data under {args.shared} (--shared)")
    args.shared = args.shared.resolve()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report = args.report or (args.out / "meta.md" if args.quick
                             else ROOT / "docs" / "results" / "meta.md")
    report.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    metas_rows = [METAFT] + ([METADTL] if args.metadtl else [])
    records: list[dict] = []
    metas: list[dict] = []
    for seed in args.seeds:
        for fraction in fractions:
            data = sample(args.shared, fraction, seed, args.out)
            learners: dict[str, Path] = {}
            for row in metas_rows:
                learners[row], record = meta_learner(row, fraction, seed, data, budget,
                                                     args.shared, args.out)
                metas.append(record)
            for genre in args.genres:
                records.append(finetune(FT, genre, fraction, seed, data, budget, args.shared,
                                        args.out, None, "last"))
                for row in metas_rows:
                    start = finetune_start(ROOT / "recipes" / f"{RECIPES[row]}.yaml")
                    records.append(finetune(row, genre, fraction, seed, data, budget,
                                            args.shared, args.out, learners[row], start))
    write_report(records, metas, args, budget, time.perf_counter() - started, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
