"""fp32 against bf16, eager against compiled: examples/s and dev accuracy on the quickstart.

Each configuration is one `etdecl train recipes/quickstart.yaml` in a subprocess, with `--set`
overrides; configurations are interleaved in rounds so machine noise hits all alike. The figures
come from each run's result.json: examples/s over the training loop (wall time of the loop minus
evaluation and checkpoints), the train-step time alone, the compile time (reported apart: the
probe before the loop), and the final dev accuracy. Ratios are against fp32 eager of the same
round, then the median over rounds.

torch.compile caches compiled kernels on disk; this script points the cache at a fresh
temporary directory, so round 1 shows a cold compile and later rounds a warm one.

    python bench/precision_compile.py [--rounds 2] [--quick] [--set KEY=VALUE ...]

Defaults (the whole quickstart, 4 configurations x 2 rounds) take about 12-15 minutes on 2
cores; `--quick` trains 10 steps on 640 examples, one round, as a smoke run.
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
RECIPE = ROOT / "recipes" / "quickstart.yaml"
CONFIGS = {
    "fp32 eager": ["parallel.precision=fp32", "train.compile=false"],
    "bf16 eager": ["parallel.precision=bf16", "train.compile=false"],
    "fp32 compile": ["parallel.precision=fp32", "train.compile=true"],
    "bf16 compile": ["parallel.precision=bf16", "train.compile=true"],
}
QUICK = ["data.train.limit=800", "train.max_steps=10", "train.eval_every=10"]


def run_etdecl(run_dir: Path, overrides: list[str], env: dict[str, str]) -> dict:
    """One training run; its timing, metric and wall time from process start."""
    cmd = [sys.executable, "-m", "etdecl.cli", "train", str(RECIPE), "--run-dir", str(run_dir)]
    for o in overrides:
        cmd += ["--set", o]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"etdecl train failed ({' '.join(overrides)}):\n{proc.stderr[-3000:]}")
    result = json.loads((run_dir / "result.json").read_text())
    timing = result["timing"]
    loop = timing["wall_s"] - timing["eval_checkpoint_s"]
    return {
        "process_s": wall,
        "examples_per_s": timing["examples"] / loop,
        "step_s": timing["train_step_s"] / max(1, timing["steps"]),
        "compile_s": timing["compile_s"],
        "compiled": timing["compiled"],
        "accuracy": result["last_eval"].get(result["metric"], float("nan")),
        "warning": next((x for x in proc.stderr.splitlines() if "training eagerly" in x), ""),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="10 steps, 1 round: a smoke run")
    ap.add_argument("--set", dest="extra", action="append", default=[],
                    help="an override for every configuration (KEY=VALUE), repeatable")
    ap.add_argument("--only", action="append", choices=list(CONFIGS), help="run only these")
    args = ap.parse_args()
    rounds = 1 if args.quick else args.rounds
    extra = (QUICK if args.quick else []) + args.extra
    names = args.only or list(CONFIGS)
    tmp = Path(tempfile.mkdtemp(prefix="etdecl-bench-pc-"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TORCHINDUCTOR_CACHE_DIR=str(tmp / "inductor"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    results: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names:
            out = run_etdecl(tmp / f"{name.replace(' ', '-')}-{r}", CONFIGS[name] + extra, env)
            results[name].append(out)
            print(f"round {r + 1} {name:13s} {out['examples_per_s']:7.1f} ex/s  step "
                  f"{out['step_s']:.3f} s  compile {out['compile_s']:6.1f} s  dev acc "
                  f"{out['accuracy']:.4f}  {out['warning']}", flush=True)
    base = "fp32 eager" if "fp32 eager" in names else names[0]
    print(f"\nquickstart, {rounds} round(s), overrides: {' '.join(extra) or '(none)'}")
    print(f"{'configuration':14s} {'ex/s':>7s} {'ratio':>6s} {'step s':>7s} {'compile s':>18s} "
          f"{'dev acc (per round)':>22s}")
    for name in names:
        runs = results[name]
        ratio = statistics.median(a["examples_per_s"] / b["examples_per_s"]
                                  for a, b in zip(runs, results[base], strict=True))
        compile_s = "/".join(f"{x['compile_s']:.0f}" for x in runs) if runs[0]["compiled"] \
            else "-"
        accs = " ".join(f"{x['accuracy']:.3f}" for x in runs)
        print(f"{name:14s} {statistics.median(x['examples_per_s'] for x in runs):7.1f} "
              f"{ratio:5.2f}x {statistics.median(x['step_s'] for x in runs):7.3f} "
              f"{compile_s:>18s} {accs:>22s}")
    print("ratio: examples/s over the training loop against fp32 eager of the same round "
          "(median); compile s: cold/warm per round, not in step time")


if __name__ == "__main__":
    main()
