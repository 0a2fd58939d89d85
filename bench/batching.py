"""Length-bucketed against random batching: padding fraction, training examples/s, dev accuracy.

    python bench/batching.py [--quick] [--seeds 3] [--qs-limit 1500]

Three parts, on the recipes' own data (recipes/quickstart.yaml, recipes/sentiment-amazon.yaml):

1. Padding fraction (padded tokens / all tokens of the padded micro-batches) over one whole
   epoch of each recipe's full training split, at its batch size: random, and bucketed at a
   few `train.bucket_window` values (3 order seeds).
2. Examples/s of training steps on the full split (collation included): one model in one
   process steps through the same step numbers of the random and the bucketed order,
   alternating in `--rounds` rounds, so machine noise hits both alike (the ratio to quote).
3. Whole training runs, random and bucketed, interleaved (seed by seed, the order of the two
   alternating), each in a fresh process: dev accuracy after one epoch, and examples/s of the
   run (train() wall time minus evaluation and checkpoints; noisier, separate processes).
   Scaled down to fit ~15 min on 2 cores: quickstart on a `--qs-limit` sample (a fifth held
   out as dev), sentiment-amazon on `--amazon-limit` training and `--amazon-dev` dev rows.

Writes nothing into the repository (run directories go to a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("ETDECL_SHARED_DATA", ROOT.parents[1] / "shared" / "data"))
AMAZON = SHARED / "multi_domain_sentiment"


def amazon_overrides() -> list[str]:
    return [f"data.train.path={AMAZON / 'train.jsonl'}", f"data.dev.path={AMAZON / 'dev.jsonl'}"]


def recipe_args(name: str, args: argparse.Namespace) -> tuple[str, list[str], list[str]]:
    """(recipe, overrides for the full data, extra overrides scaling the training runs)."""
    if name == "quickstart":
        return "recipes/quickstart.yaml", [], [f"data.train.limit={args.qs_limit}"]
    return ("recipes/sentiment-amazon.yaml", amazon_overrides(),
            [f"data.train.limit={args.amazon_limit}", f"data.dev.limit={args.amazon_dev}"])


# ── worker: one process per measurement ─────────────────────────────────────────────────────

def _trainer(recipe: str, overrides: list[str], run_dir: Path):
    from etdecl.engine.launch import init_distributed
    from etdecl.engine.trainer import Trainer
    from etdecl.quiet import quiet_third_party
    from etdecl.recipe import load_recipe

    quiet_third_party()
    loaded = load_recipe(recipe, overrides)
    init_distributed(loaded.recipe.train.seed, single=True)
    trainer = Trainer(loaded, run_dir)
    return trainer


def _epoch_padding(batches) -> float:
    """Padded tokens / all tokens of one epoch's micro-batches, over every dataset."""
    import numpy as np

    real = padded = 0
    for step in range(batches.steps_per_epoch):
        ds, mine = batches.step_batch(step)
        lengths = ds.feats.lengths()
        for part in np.array_split(mine, batches.grad_accum):
            rows = lengths[part]
            real += int(rows.sum())
            padded += int(rows.max()) * len(rows)
    return 1.0 - real / padded if padded else 0.0


def work_padding(spec: dict) -> dict:
    """Padding fraction of one epoch, per batching and window, on the full training split."""
    from etdecl.data.tokens import TrainBatches

    trainer = _trainer(spec["recipe"], spec["overrides"], Path(spec["run_dir"]))
    trainer.setup()
    t, b = trainer.recipe.train, trainer.batches
    out = {"examples": sum(len(d.feats) for d in trainer.data.train), "random": {}, "bucketed": {}}
    for seed in spec["seeds"]:
        for batching, window in [("random", 0), *[("bucketed", w) for w in spec["windows"]]]:
            tb = TrainBatches(b.sets, t.batch_size, 1, 0, t.grad_accum, seed, 1, t.mixing,
                              t.mixing_temperature, batching, max(window, 1))
            out[batching].setdefault(str(window), []).append(_epoch_padding(tb))
    if spec["steps"]:
        out["throughput"] = _interleaved_steps(trainer, spec["steps"], spec["rounds"],
                                               spec["window"])
    return out


def _interleaved_steps(trainer, steps: int, rounds: int, window: int) -> dict:
    """Examples/s of training steps (collation included) on random and bucketed batches of the
    full split, one model in one process, alternating in rounds so machine noise hits both
    alike. Each round takes the same step numbers of both orders, spread over the epoch."""
    import numpy as np

    from etdecl.data.tokens import TrainBatches

    t = trainer.recipe.train
    orders = {m: TrainBatches(trainer.batches.sets, t.batch_size, 1, 0, t.grad_accum, t.seed,
                              1, t.mixing, t.mixing_temperature, m, window)
              for m in ("random", "bucketed")}
    n = orders["random"].steps_per_epoch
    picks = np.linspace(0, n - 1, steps * rounds).round().astype(int)

    def run(mode: str, chosen) -> float:
        start, done = time.perf_counter(), 0
        for s in chosen:
            ds, mine = orders[mode].step_batch(int(s))
            float(trainer.train_step([ds.batch(p) for p in np.array_split(mine, t.grad_accum)]))
            done += len(mine)
        return done / (time.perf_counter() - start)

    run("random", picks[:1])  # warm-up
    run("bucketed", picks[:1])
    per_round = []
    for r in range(rounds):
        modes = ["random", "bucketed"] if r % 2 == 0 else ["bucketed", "random"]
        per_round.append({m: run(m, picks[r::rounds]) for m in modes})
    return {"steps": steps * rounds,
            "random": statistics.median(x["random"] for x in per_round),
            "bucketed": statistics.median(x["bucketed"] for x in per_round),
            "ratio": statistics.median(x["bucketed"] / x["random"] for x in per_round)}


def work_train(spec: dict) -> dict:
    """One training run: examples/s of the training steps (with collation), dev accuracy."""
    trainer = _trainer(spec["recipe"], spec["overrides"], Path(spec["run_dir"]))
    trainer.setup()
    spent = {"eval": 0.0, "ckpt": 0.0}
    examples = [0]

    def timed(name, fn):
        def wrapper(*a, **k):
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.perf_counter() - start
        return wrapper

    inner_step = trainer.train_step

    def counting_step(micro):
        examples[0] += sum(len(m["index"]) for m in micro)
        return inner_step(micro)

    trainer.train_step = counting_step
    trainer.evaluate = timed("eval", trainer.evaluate)
    trainer.save_checkpoint = timed("ckpt", trainer.save_checkpoint)
    padding = _epoch_padding(trainer.batches)
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    train_time = wall - spent["eval"] - spent["ckpt"]
    return {"examples_per_s": examples[0] / train_time, "train_s": train_time,
            "steps": trainer.steps_run, "accuracy": trainer.last_eval[trainer.metric],
            "padding": padding}


def run_worker(kind: str, spec: dict) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, __file__, "--worker", kind, json.dumps(spec)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"worker failed ({kind} {spec}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ── driver ──────────────────────────────────────────────────────────────────────────────────

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny samples, one seed")
    ap.add_argument("--seeds", type=int, default=3,
                    help="quickstart training seeds (0: skip its training runs)")
    ap.add_argument("--amazon-seeds", type=int, default=1)
    ap.add_argument("--qs-limit", type=int, default=1500)
    ap.add_argument("--amazon-limit", type=int, default=640)
    ap.add_argument("--amazon-dev", type=int, default=400)
    ap.add_argument("--window", type=int, default=50)
    ap.add_argument("--steps", type=int, default=6,
                    help="timed steps per batching and round on the full split (0: skip)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, spec = args.worker
        result = {"padding": work_padding, "train": work_train}[kind](json.loads(spec))
        print(json.dumps(result))
        return
    if args.quick:
        args.seeds, args.amazon_seeds = 1, 1
        args.qs_limit, args.amazon_limit, args.amazon_dev = 300, 160, 64
        args.steps, args.rounds = 1, 2
    if not AMAZON.is_dir():
        sys.exit(f"shared data not found: {AMAZON} (set ETDECL_SHARED_DATA)")
    tmp = Path(tempfile.mkdtemp(prefix="etdecl-bench-batching-"))
    windows = [1, 10, 50, 200]
    throughput: list[tuple[str, dict]] = []
    started = time.perf_counter()

    print("## Padding fraction over one epoch of the full training split (3 order seeds)")
    print("| data | examples | random | " + " | ".join(f"bucketed w={w}" for w in windows)
          + f" | ratio w={args.window} |")
    print("|---|---|---|" + "---|" * len(windows) + "---|")
    for name in ("quickstart", "sentiment-amazon"):
        recipe, full, _ = recipe_args(name, args)
        limit = [f"data.train.limit={args.qs_limit}"] if args.quick and name == "quickstart" \
            else []
        pad = run_worker("padding", {"recipe": recipe, "overrides": full + limit,
                                     "run_dir": str(tmp / f"pad-{name}"), "seeds": [1, 2, 3],
                                     "windows": windows, "window": args.window,
                                     "steps": args.steps, "rounds": args.rounds})
        throughput.append((name, pad.get("throughput")))
        rnd = statistics.mean(pad["random"]["0"])
        cells = [statistics.mean(pad["bucketed"][str(w)]) for w in windows]
        chosen = statistics.mean(pad["bucketed"].get(str(args.window), [float("nan")]))
        print(f"| {name} | {pad['examples']} | {rnd:.3f} | "
              + " | ".join(f"{c:.3f}" for c in cells) + f" | {chosen / rnd:.3f} |", flush=True)

    if args.steps:
        print(f"\n## Training steps on the full split, one process, {args.rounds} interleaved "
              f"rounds (window {args.window})")
        print("| data | steps per batching | random ex/s | bucketed ex/s | ratio (median) |")
        print("|---|---|---|---|---|")
        for name, tp in throughput:
            print(f"| {name} | {tp['steps']} | {tp['random']:.1f} | {tp['bucketed']:.1f} | "
                  f"{tp['ratio']:.3f} |")
    if not args.seeds and not args.amazon_seeds:
        return

    print(f"\n## Training, random vs bucketed (window {args.window}), interleaved by seed")
    print("| data | seed | batching | padding | examples/s | train s | steps | dev accuracy |")
    print("|---|---|---|---|---|---|---|---|")
    summary = []
    for name, seeds in (("quickstart", args.seeds), ("sentiment-amazon", args.amazon_seeds)):
        recipe, full, scale = recipe_args(name, args)
        if not seeds:
            continue
        rows: dict[str, list[dict]] = {"random": [], "bucketed": []}
        for i, seed in enumerate(range(1, seeds + 1)):
            order = ["random", "bucketed"] if i % 2 == 0 else ["bucketed", "random"]
            for batching in order:
                sets = [*full, *scale, f"train.seed={seed}", f"train.batching={batching}",
                        "train.eval_every=100000"]
                if batching == "bucketed":
                    sets.append(f"train.bucket_window={args.window}")
                r = run_worker("train", {"recipe": recipe, "overrides": sets,
                                         "run_dir": str(tmp / f"{name}-{batching}-{seed}")})
                rows[batching].append(r)
                print(f"| {name} | {seed} | {batching} | {r['padding']:.3f} | "
                      f"{r['examples_per_s']:.1f} | {r['train_s']:.1f} | {r['steps']} | "
                      f"{r['accuracy']:.4f} |", flush=True)
        speed = [b["examples_per_s"] / r["examples_per_s"]
                 for r, b in zip(rows["random"], rows["bucketed"], strict=True)]
        acc = {k: [x["accuracy"] for x in v] for k, v in rows.items()}
        summary.append((name, len(speed), statistics.median(speed), acc))

    print("\n## Ratios (bucketed / random, same seed)")
    print("| data | seeds | examples/s ratio (median) | dev accuracy random | bucketed | Δ |")
    print("|---|---|---|---|---|---|")
    for name, n, ratio, acc in summary:
        def fmt(xs):
            sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
            return f"{statistics.mean(xs):.4f} ± {sd:.4f}"
        delta = statistics.mean(acc["bucketed"]) - statistics.mean(acc["random"])
        print(f"| {name} | {n} | {ratio:.3f} | {fmt(acc['random'])} | {fmt(acc['bucketed'])} "
              f"| {delta:+.4f} |")
    print(f"\ntotal {time.perf_counter() - started:.0f} s; scale: quickstart "
          f"data.train.limit={args.qs_limit} (a fifth dev), sentiment-amazon "
          f"data.train.limit={args.amazon_limit}, data.dev.limit={args.amazon_dev}; "
          f"1 epoch, recipes' batch size and max_length")


if __name__ == "__main__":
    main()
