"""Compare `etdecl plan`'s memory estimate per rank with the measured peak resident memory.

    python bench/memory_estimate.py [--steps 8] [--quick] [--only zero]

Every plan runs at two points, so the model is not fitted to one: batch 32 at the data's own
lengths (quickstart's max_length 64) and batch 64 (twice the activations against the
same parameters and plugin buffers). `--quick` runs the first point with 3 steps.

Each plan trains MiniLM-L6 on Rotten Tomatoes for a few steps under torchrun; every rank samples
its RSS every 10 ms. "measured" is peak RSS during training minus RSS before the model was
built (interpreter, torch and library pages are not the model's); the error is
(estimate - measured) / measured. With `--malloc-trim` the workers run glibc with one arena and
trim threshold 0: peak RSS is then close to live memory; by default it also holds what the
heap keeps after frees (Gemini on CPU: RSS grows ~40 MiB a step while live tensors stay
constant).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLANS = {
    "ddp ×1": (1, ["parallel.plugin=ddp"]),
    "ddp ×2": (2, ["parallel.plugin=ddp"]),
    "zero-1 ×2": (2, ["parallel.plugin=zero", "parallel.zero_stage=1"]),
    "zero-2 ×2": (2, ["parallel.plugin=zero", "parallel.zero_stage=2"]),
    "hybrid tp2": (2, ["parallel.plugin=hybrid", "parallel.tp=2"]),
    "hybrid pp2": (2, ["parallel.plugin=hybrid", "parallel.pp=2"]),
    "gemini bf16 ×2": (2, ["parallel.plugin=gemini", "parallel.precision=bf16"]),
}


POINTS = {
    "b32": ["data.train.limit=2000", "train.batch_size=32"],
    "b64": ["data.train.limit=2000", "train.batch_size=64"],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="first point only, 3 steps")
    ap.add_argument("--only", default="", help="run the plans whose name contains this")
    ap.add_argument("--malloc-trim", action="store_true",
                    help="workers return freed memory to the OS (glibc: one arena, trim "
                         "threshold 0), so peak RSS is live memory, not the heap's retention")
    args = ap.parse_args()
    points = dict(list(POINTS.items())[:1]) if args.quick else POINTS
    steps = 3 if args.quick else args.steps
    rows = []
    runs = [(f"{name} {point}", nproc, over + base) for point, base in points.items()
            for name, (nproc, over) in PLANS.items() if args.only in name]
    for name, nproc, over in runs:
        tmp = Path(tempfile.mkdtemp(prefix="etdecl-mem-"))
        out = tmp / "mem.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
               "--master_port=0", "--rdzv_backend=c10d", "--rdzv_endpoint=127.0.0.1:0",
               str(ROOT / "bench" / "memory_worker.py"), str(ROOT / "recipes/quickstart.yaml"),
               str(tmp / "run"), str(out), str(steps), *over]
        env = dict(os.environ, OMP_NUM_THREADS=str(max(1, 2 // nproc)), HF_HUB_OFFLINE="1")
        if args.malloc_trim:
            env.update(MALLOC_ARENA_MAX="1", MALLOC_TRIM_THRESHOLD_="0")
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode:
            print(f"{name}: failed\n{proc.stderr[-2000:]}")
            continue
        for rank in range(nproc):
            rep = json.loads(Path(f"{out}.rank{rank}").read_text())
            err = (rep["estimate_mib"] - rep["measured_mib"]) / rep["measured_mib"] * 100
            rows.append((name, rank, rep["measured_mib"], rep["estimate_mib"], err))
            print(name, rank, json.dumps(rep), file=sys.stderr, flush=True)
    print(f"{'plan':25} {'rank':>4} {'measured MiB':>13} {'estimate MiB':>13} {'error %':>8}")
    for name, rank, meas, est, err in rows:
        print(f"{name:25} {rank:>4} {meas:>13.1f} {est:>13.1f} {err:>+8.1f}")
    errs = [abs(r[4]) for r in rows]
    if errs:
        print(f"mean |error| {sum(errs) / len(errs):.1f} %, max {max(errs):.1f} %")


if __name__ == "__main__":
    main()
