"""ONNX Runtime against PyTorch for the same run: `predict` rows/s on the quickstart model.

The run is the quickstart recipe untrained (MiniLM-L6's pretrained weights, a fresh head:
bench/untrained_run.py; speed does not depend on what the weights learnt). It is exported with
`export_onnx` (export time reported), then the same Rotten Tomatoes texts (the quickstart's dev
split) are predicted with `predict_records` through each backend: PyTorch fp32 (predict's
default), onnxruntime fp32, and PyTorch under bf16 autocast; backends interleaved in rounds so
machine noise hits all alike, same batch size and threads. Reported per backend: rows/s of the
whole predict (tokenise, batch, forward, decode) and the share of it spent inside forward;
ratios are against torch fp32 of the same round, then the median over rounds; agreement of the
predicted labels with torch fp32's.

    python bench/onnx_vs_torch.py [--rounds 7] [--batch-size 64] [--threads N] [--quick]

Default (900 texts x 3 backends x 7 rounds) takes about 3-6 minutes on 2 cores; `--quick`
predicts 128 texts, one round, as a smoke run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "quickstart.yaml"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def dev_rows(n: int) -> list[dict]:
    """The quickstart's dev texts as rows keyed by its field names (no labels)."""
    from etdecl.data.examples import load_splits
    from etdecl.recipe import load_recipe

    loaded = load_recipe(RECIPE)
    field = loaded.recipe.data.fields.text
    return [{field: e.inputs["text"]} for e in load_splits(loaded).dev[:n]]


def timed(forward):
    """The forward, with the seconds spent inside it added up in `.spent`."""
    def wrapped(batch):
        start = time.perf_counter()
        out = forward(batch)
        wrapped.spent += time.perf_counter() - start
        return out

    wrapped.spent = 0.0
    return wrapped


def backends(run, onnx_path: Path, threads: int, bf16: bool) -> dict:
    import torch

    from etdecl.export.onnx_runtime import onnx_forward

    model = run.compiled.model

    @torch.no_grad()
    def torch_fp32(batch):
        return model(**batch)

    @torch.no_grad()
    def torch_bf16(batch):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(**batch)

    out = {"torch fp32": torch_fp32, "onnxruntime fp32": onnx_forward(run, onnx_path, threads)}
    if bf16:
        out["torch bf16 autocast"] = torch_bf16
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--n", type=int, default=900, help="texts to predict (dev split: 900)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None, help="default: torch's")
    ap.add_argument("--no-bf16", action="store_true", help="leave out torch bf16 autocast")
    ap.add_argument("--quick", action="store_true", help="128 texts, 1 round: a smoke run")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from untrained_run import untrained_run

    from etdecl.engine.inference import load_run, predict_records
    from etdecl.export.onnx_export import export_onnx
    from etdecl.quiet import quiet_third_party

    quiet_third_party()
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    n, rounds = (128, 1) if args.quick else (args.n, args.rounds)
    rows = dev_rows(n)
    tmp = Path(tempfile.mkdtemp(prefix="etdecl-bench-onnx-"))
    run = load_run(untrained_run(RECIPE, tmp / "run"))
    start = time.perf_counter()
    (path,) = export_onnx(run, tmp / "bundle")
    export_s = time.perf_counter() - start
    print(f"{len(rows)} texts, batch {args.batch_size}, {threads} threads, {rounds} round(s); "
          f"export {export_s:.1f} s ({path.stat().st_size / 2**20:.1f} MiB)")
    fns = backends(run, path, threads, not args.no_bf16)
    for fn in fns.values():  # warm-up: first-call allocations and kernel choice
        predict_records(run, rows[: args.batch_size], batch_size=args.batch_size, forward=fn)
    speed: dict[str, list[float]] = {k: [] for k in fns}
    share: dict[str, list[float]] = {k: [] for k in fns}
    ratio: dict[str, list[float]] = {k: [] for k in fns}
    labels: dict[str, list[str]] = {}
    for r in range(rounds):
        for name, fn in fns.items():
            f = timed(fn)
            start = time.perf_counter()
            preds = predict_records(run, rows, batch_size=args.batch_size, forward=f)
            wall = time.perf_counter() - start
            speed[name].append(len(rows) / wall)
            share[name].append(f.spent / wall)
            labels[name] = [p["sentiment"]["label"] for p in preds]
            print(f"round {r + 1} {name:20s} {len(rows) / wall:7.1f} rows/s "
                  f"(forward {f.spent / wall:.0%} of {wall:.2f} s)", flush=True)
        for name in fns:
            ratio[name].append(speed[name][-1] / speed["torch fp32"][-1])
    print("\nbackend               rows/s (median)  rows/s (best)  forward share"
          "  ratio to torch fp32 (median)  labels equal to torch fp32")
    for name in fns:
        same = sum(a == b for a, b in zip(labels[name], labels["torch fp32"], strict=True))
        print(f"{name:20s}  {statistics.median(speed[name]):15.1f}  {max(speed[name]):13.1f}  "
              f"{statistics.median(share[name]):13.0%}  {statistics.median(ratio[name]):28.3f}"
              f"  {same}/{len(rows)}")


if __name__ == "__main__":
    main()
