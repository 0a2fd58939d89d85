"""What the experiment scripts share: the commit a report was written at and one training run in
this process (no interpreter start per run); and the transfer protocol on the multi-domain
Amazon reviews that the paper's Table 8 (feature_tl.py) and Table 9 (instance_tl.py) scripts
both follow, so the two tables are measured alike: the data layout (a seeded share of one target
domain, a sample of the other three as source), the budget, the `--set` overrides that give a
gallery recipe that layout, scoring on the target's dev reviews, the mean ± std tables and the
report's common parts."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True)
    return out.stdout.strip() or "unknown"


def train_one(recipe: Path, sets: list[str], run_dir: Path) -> float:
    """Train a recipe with `--set` overrides into `run_dir`; returns wall seconds (a staged
    recipe: all its stages). Exits the script when the training fails."""
    from etdecl.engine.launch import launch
    from etdecl.engine.stages import run_stages
    from etdecl.recipe.validate import load_recipe

    loaded = load_recipe(recipe, sets)
    started = time.perf_counter()
    train = run_stages if loaded.recipe.stages else launch  # as `etdecl train` does
    code = train(loaded, run_dir=run_dir)
    if code != 0:
        raise SystemExit(f"training {run_dir} failed (exit {code})")
    return time.perf_counter() - started


# ── the multi-domain Amazon protocol ─────────────────────────────────────────────────────────

DOMAINS = ["books", "dvd", "electronics", "kitchen"]
FIELDS = {"text": "text", "label": "label", "domain": "domain"}
SOURCE, TARGET = "source", "target"
METRICS = ("accuracy", "macro_f1")


@dataclass(frozen=True)
class Method:
    recipe: str
    sets: tuple[str, ...]
    """Datasets the heads train on: the source sample, the target's share, or both."""
    stage1: str | None = None
    """Fine-Tune: the recipe of the source stage whose best weights stage 2 starts from."""
    extra: tuple[str, ...] = ()
    """The method's own overrides after the protocol's, formatted with `target` (the target
    domain) and `budget` (e.g. `"data.target_domain={target}"`)."""


BASELINES = {
    "Tgt-Only": Method("tgt-only-amazon", (TARGET,)),
    "Src-Only": Method("src-only-amazon", (SOURCE,)),
    "Mixed": Method("mixed-amazon", (SOURCE, TARGET)),
}
"""The baselines of both tables."""


@dataclass(frozen=True)
class Budget:
    """What every method trains on and how; the defaults are the Table 8 protocol's, sized so
    its 108 trainings fit about 90 minutes on 2 cores."""

    target_fraction: float = 0.1
    source_rows: int = 960
    """Seeded sample of the 4,800 source training reviews (all three domains together)."""
    source_dev_rows: int = 96
    target_dev_rows: int | None = None
    """None: all 200 of the target's dev reviews."""
    max_length: int = 128
    """64 cuts most reviews: 0.76 Tgt-Only accuracy on books against 0.805 at 128, for about
    half the time per training (docs/feature-tl.md)."""
    batch_size: int = 16
    lr: float = 2.0e-4
    warmup: float = 0.1
    """The same learning rate and warmup for every method (the tower recipes' own 1e-4 and
    0.06 suit their full-data epoch; on this budget FS at 1e-4 fell 5 points below Mixed,
    its twin at 2e-4, on books seed 1)."""
    target_epochs: int = 5
    """Epochs of target-only trainings (Tgt-Only, Fine-Tune stage 2): 160 rows are 10 steps."""
    source_epochs: int = 1
    eval_every: int = 25
    freeze_layers: int = 3
    max_steps: int | None = None


QUICK = Budget(source_rows=64, source_dev_rows=16, target_dev_rows=32, target_fraction=0.02,
               target_epochs=1, max_steps=4, eval_every=4)


def target_rows(train: Path, target: str, fraction: float) -> int:
    """The target's share of training rows: `fraction` of its rows in the file."""
    n = sum(1 for line in train.open(encoding="utf-8")
            if line.strip() and json.loads(line).get("domain") == target)
    return max(1, round(n * fraction))


def overrides(recipe: dict, method: Method, target: str, seed: int, budget: Budget,
              shared: Path, n_target: int) -> list[str]:
    """`--set` overrides that give a method's resolved recipe (`recipe`, a dict) the protocol's
    data (a `source` and/or a `target` dataset shared by every head), seeds and budget, then
    the method's own (`Method.extra`)."""
    folder = shared / "multi_domain_sentiment"
    train, dev = str(folder / "train.jsonl"), str(folder / "dev.jsonl")
    sets: dict[str, dict] = {}
    if SOURCE in method.sets:
        sets[SOURCE] = {"train": {"path": train, "limit": budget.source_rows},
                        "dev": {"path": dev, "limit": budget.source_dev_rows},
                        "where": {"domain": [d for d in DOMAINS if d != target]},
                        "fields": FIELDS}
    if TARGET in method.sets:
        target_dev = {"path": dev}
        if budget.target_dev_rows:
            target_dev["limit"] = budget.target_dev_rows
        sets[TARGET] = {"train": {"path": train, "limit": n_target}, "dev": target_dev,
                        "where": {"domain": [target]}, "fields": FIELDS}
    heads = list(recipe["heads"])
    only_target = method.sets == (TARGET,)
    out = ["data.train=null", "data.dev=null", "data.where={}", f"data.sets={json.dumps(sets)}",
           f"data.split_seed={seed}", f"data.max_length={budget.max_length}",
           f"train.seed={seed}", f"train.batch_size={budget.batch_size}",
           f"train.lr={budget.lr}", f"train.warmup={budget.warmup}",
           f"train.epochs={budget.target_epochs if only_target else budget.source_epochs}",
           f"train.eval_every={budget.eval_every}", "train.batching=bucketed",
           f"parallel.precision={precision()}"]
    if budget.max_steps:
        out.append(f"train.max_steps={budget.max_steps}")
    for head in heads:
        out.append(f"heads.{head}.data={json.dumps(list(method.sets))}")
    metric = f"{heads[0]}.accuracy" + (f"[{target}]" if TARGET in method.sets else "")
    out.append(f"train.metric={metric}")
    for name, enc in recipe["encoders"].items():
        if enc.get("type") == "hf":
            out += [f"encoders.{name}.freeze_embeddings=true",
                    f"encoders.{name}.freeze_layers={budget.freeze_layers}"]
    return out + [x.format(target=target, budget=budget) for x in method.extra]


def score(run_dir: Path, target: str, shared: Path, dataset: str) -> dict[str, float]:
    """Accuracy and macro-F1 of the run's best checkpoint on the target's dev reviews, in the
    precision it trained in (Src-Only's dataset filters source domains: the filter is swapped)."""
    from etdecl.engine.inference import evaluate_file, load_run, torch_forward

    run = load_run(run_dir)
    head = next(iter(run.loaded.recipe.heads))
    got = evaluate_file(run, shared / "multi_domain_sentiment" / "dev.jsonl", dataset,
                        forward=torch_forward(run, "recipe"), where={"domain": [target]})
    return {"accuracy": got[f"{head}.accuracy"], "macro_f1": got[f"{head}.macro_f1"]}


def run_method(name: str, method: Method, target: str, seed: int, budget: Budget,
               shared: Path, out: Path, extra: Sequence[str] = (),
               describe: Callable[[Path], dict[str, Any]] | None = None) -> dict | None:
    """One method for one target and seed (both stages for Fine-Tune), trained into
    <out>/<target>/<name>/seed<S> and scored; None when its recipe is missing. A finished run
    (its experiment.json) is reused. `extra`: overrides after the method's; `describe`: more
    fields for the record, read from the finished run directory."""
    from etdecl.recipe.resolve import load_tree

    path = ROOT / "recipes" / f"{method.recipe}.yaml"
    if not path.is_file():
        print(f"skip {name}: recipes/{method.recipe}.yaml is missing", file=sys.stderr)
        return None
    run_dir = out / target / name / f"seed{seed}"
    record_file = run_dir / "experiment.json"
    if record_file.is_file():
        return json.loads(record_file.read_text())
    n_target = target_rows(shared / "multi_domain_sentiment" / "train.jsonl", target,
                           budget.target_fraction)
    sets = overrides(load_tree(path).data, method, target, seed, budget, shared, n_target)
    sets += extra
    wall = 0.0
    if method.stage1:
        # stage 1 trains exactly as Src-Only does (its recipe extends src-only-amazon with
        # another name), so a finished Src-Only run of this target and seed is reused
        source = out / target / "Src-Only" / f"seed{seed}"
        if not (source / "result.json").is_file():
            source = run_dir.with_name(f"seed{seed}-source")
            if not (source / "result.json").is_file():
                first = ROOT / "recipes" / f"{method.stage1}.yaml"
                wall += train_one(first, overrides(load_tree(first).data, BASELINES["Src-Only"],
                                                   target, seed, budget, shared, n_target)
                                  + list(extra), source)
        sets.append(f"train.init_from={source}")
    if (run_dir / "result.json").is_file():
        raise SystemExit(f"{run_dir} holds a run without experiment.json; remove it")
    wall += train_one(path, sets, run_dir)
    dataset = SOURCE if method.sets == (SOURCE,) else TARGET
    record = {"method": name, "target": target, "seed": seed, "wall_s": round(wall, 1),
              "target_rows": n_target, **score(run_dir, target, shared, dataset),
              **(describe(run_dir) if describe else {}),
              "command": f"etdecl train {path.relative_to(ROOT)} --run-dir {run_dir}" + "".join(
                  f" --set '{s}'" for s in sets)}
    record_file.write_text(json.dumps(record, indent=2))
    print(f"{name} → {target} seed {seed}: accuracy {record['accuracy']:.4f}, macro-F1 "
          f"{record['macro_f1']:.4f}, {wall:.0f} s", file=sys.stderr)
    return record


def run_all(methods: dict[str, Method], args: Any, budget: Budget,
            describe: dict[str, Callable[[Path], dict[str, Any]]] | None = None
            ) -> tuple[list[dict], list[str]]:
    """Every (target, seed, method) of the invocation, in that order: the records of the runs
    and the methods skipped (recipe missing). `describe`: per method, more record fields."""
    records: list[dict] = []
    skipped: list[str] = []
    for target in args.targets:
        for seed in args.seeds:
            for name in args.methods:
                record = run_method(name, methods[name], target, seed, budget, args.shared,
                                    args.out, tuple(args.extra), (describe or {}).get(name))
                if record is None:
                    if name not in skipped:
                        skipped.append(name)
                    continue
                records.append(record)
    return records, skipped


# ── tables and reports ───────────────────────────────────────────────────────────────────────

def mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


Table = dict[tuple[str, str], dict[str, tuple[float, float]]]


def summarise(records: list[dict]) -> Table:
    """(method, target) → metric → (mean, std over seeds)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["method"], r["target"]), []).append(r)
    return {key: {m: mean_std([r[m] for r in rs]) for m in METRICS}
            for key, rs in groups.items()}


def mean_over_targets(table: Table, methods: Sequence[str], targets: Sequence[str],
                      metric: str = "accuracy") -> dict[str, float]:
    """Per method run on every target: its mean over targets of the mean over seeds."""
    return {m: statistics.fmean(table[(m, t)][metric][0] for t in targets)
            for m in methods if all((m, t) in table for t in targets)}


def metric_tables(table: Table, methods: Sequence[str], targets: Sequence[str]) -> list[str]:
    """Markdown lines: one table per metric, a row per method, a column per target and the
    mean over them."""
    head = "| method | " + " | ".join(targets) + " | mean |"
    lines: list[str] = []
    for metric, title in (("accuracy", "Target dev accuracy"), ("macro_f1", "Target dev macro-F1")):
        lines += [f"## {title} (mean ± std over seeds)", "", head,
                  "|" + "---|" * (len(targets) + 2)]
        for m in methods:
            cells = [f"{table[(m, t)][metric][0]:.4f} ± {table[(m, t)][metric][1]:.4f}"
                     if (m, t) in table else "-" for t in targets]
            means = [table[(m, t)][metric][0] for t in targets if (m, t) in table]
            lines.append(f"| {m} | " + " | ".join(cells) + f" | {statistics.fmean(means):.4f} |")
        lines.append("")
    return lines


def plot(table: Table, methods: Sequence[str], targets: Sequence[str], png: Path,
         title: str) -> None:
    """Bars of target dev accuracy (mean ± std over seeds), grouped by target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(1, len(methods))
    for i, m in enumerate(methods):
        xs = [j + i * width for j, t in enumerate(targets) if (m, t) in table]
        ys = [table[(m, t)]["accuracy"] for t in targets if (m, t) in table]
        ax.bar(xs, [y[0] for y in ys], width, yerr=[y[1] for y in ys], label=m, capsize=2)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(targets))], targets)
    ax.set_ylabel("target dev accuracy (mean ± std over seeds)")
    ax.set_ylim(0.5, 1.0)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=3)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def wall_line(records: list[dict]) -> str:
    times = [r["wall_s"] for r in records]
    return (f"Wall time per training (model load, tokenising, training, evaluations): mean "
            f"{statistics.fmean(times):.0f} s, min {min(times):.0f} s, max {max(times):.0f} s.")


def commands(records: list[dict]) -> list[str]:
    """Markdown lines: every run's wall time, and the commands of the first target and seed
    (the others differ only in the domains, the seed and the run directory)."""
    timings = [f"{r['method']} → {r['target']} seed {r['seed']} {r['wall_s']:.0f} s"
               for r in records]
    first = (records[0]["target"], records[0]["seed"])
    lines = [f"Every run, by target and seed: {', '.join(timings)}.", "",
             f"The commands of target {first[0]}, seed {first[1]} (the others differ in the "
             "domains, the seed and the run directory):", ""]
    return lines + [f"- {r['method']}: `{r['command']}`" for r in records
                    if (r["target"], r["seed"]) == first]


def precision() -> str:
    """`bf16` where the CPU has bf16 units (oneDNN says so), else `fp32`: on an AVX2-only CPU
    bf16 autocast is emulated and about 20× slower than fp32 (measured on an AMD EPYC)."""
    import torch

    try:
        return "bf16" if bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) else "fp32"
    except (AttributeError, RuntimeError):
        return "bf16"
