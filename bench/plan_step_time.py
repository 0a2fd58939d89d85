"""Step time of every parallel plan against DDP on one process, and the loss at the last step.

    python bench/plan_step_time.py [--steps 14] [--model minilm|tiny]

Each plan trains the same recipe through `etdecl train` (2 gloo processes for the parallel
plans, sharing this machine's cores). The step time is the median gap between consecutive
per-step log lines in metrics.jsonl, skipping the first steps (warm-up); evaluation and
checkpoints happen only after the last step. Reported as a ratio to DDP on one process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PLANS: list[tuple[str, int, list[str]]] = [
    ("ddp fp32", 1, ["parallel.plugin=ddp"]),
    ("ddp fp32", 2, ["parallel.plugin=ddp"]),
    ("zero-1 fp32", 2, ["parallel.plugin=zero", "parallel.zero_stage=1"]),
    ("zero-2 fp32", 2, ["parallel.plugin=zero", "parallel.zero_stage=2"]),
    ("zero-2 bf16", 2, ["parallel.plugin=zero", "parallel.zero_stage=2",
                        "parallel.precision=bf16"]),
    ("hybrid dp fp32", 2, ["parallel.plugin=hybrid"]),
    ("hybrid tp2 fp32", 2, ["parallel.plugin=hybrid", "parallel.tp=2"]),
    ("hybrid pp2 fp32", 2, ["parallel.plugin=hybrid", "parallel.pp=2"]),
    ("hybrid pp2 zero-1 bf16", 2, ["parallel.plugin=hybrid", "parallel.pp=2",
                                   "parallel.zero_stage=1", "parallel.precision=bf16"]),
    ("gemini bf16", 2, ["parallel.plugin=gemini", "parallel.precision=bf16"]),
    ("gemini fp16", 2, ["parallel.plugin=gemini", "parallel.precision=fp16"]),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=14)
    ap.add_argument("--skip", type=int, default=3)
    args = ap.parse_args()
    common = ["data.train.limit=2000", f"train.max_steps={args.steps}", "train.log_every=1",
              f"train.eval_every={args.steps}", "train.batch_size=32"]
    rows = []
    for name, nproc, over in PLANS:
        run = Path(tempfile.mkdtemp(prefix="etdecl-plan-")) / "run"
        sets = [a for kv in common + over for a in ("--set", kv)]
        cmd = [sys.executable, "-m", "etdecl.cli", "train", "recipes/quickstart.yaml",
               "--run-dir", str(run), "--nproc", str(nproc), *sets]
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode:
            rows.append((name, nproc, None, None, proc.stderr.strip().splitlines()[-1:]))
            continue
        logs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        train = [m for m in logs if m["split"] == "train"]
        gaps = [b["time"] - a["time"] for a, b in zip(train, train[1:], strict=False)]
        rows.append((name, nproc, statistics.median(gaps[args.skip:]), train[-1]["loss"], ""))
    base = rows[0][2]
    print(f"{'plan':26} {'procs':>5} {'s/step':>7} {'vs ddp×1':>9} {'last loss':>10}")
    for name, nproc, step, loss, err in rows:
        if step is None:
            print(f"{name:26} {nproc:>5} failed: {err}")
            continue
        print(f"{name:26} {nproc:>5} {step:>7.3f} {step / base:>9.2f} {loss:>10.4f}")


if __name__ == "__main__":
    main()
