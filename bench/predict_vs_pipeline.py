"""`etdecl predict` against a plain transformers `pipeline` on the same model and inputs.

The model is the quickstart's (MiniLM-L6 with the pretrained pooler, `pooling: pooler`, so the
Hugging Face layout holds exactly the same function; the head is untrained: speed does not
depend on what it learnt). etdecl predicts from its bundle; the pipeline
(`text-classification`, batch_size and max_length the same) from the `--format hf` export of
the same run. Both read the same Rotten Tomatoes texts in the same process and threads, in
interleaved rounds; figures are medians. etdecl runs in fp32 (as the pipeline), and again
in bf16 (`--precision bf16`, the quickstart recipe's own precision); with an ONNX export, its
ONNX Runtime backend runs too.

Where the time goes: etdecl's share of reading + tokenising, forward and decoding, and the
padding each system's batches carry (etdecl sorts a chunk's rows by length before batching;
the pipeline batches in input order).

    python bench/predict_vs_pipeline.py [--rows 2000] [--rounds 3] [--batch-size 64] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
RECIPE = ROOT / "recipes" / "quickstart.yaml"


def texts(n: int) -> list[str]:
    """The quickstart's rows (train then dev split), as the recipe reads them."""
    from etdecl.data.examples import load_splits
    from etdecl.recipe import load_recipe

    splits = load_splits(load_recipe(RECIPE))
    rows = [e.inputs["text"] for e in [*splits.train, *splits.dev]]
    return (rows * (n // len(rows) + 1))[:n]


def padding(lengths: list[int], batch_size: int, sort_chunk: int = 0) -> float:
    """Fraction of the batches' token slots that are padding (rows sorted by length within
    chunks of `sort_chunk`, as predict reads them, or in input order)."""
    order = lengths
    if sort_chunk:
        order = [n for i in range(0, len(lengths), sort_chunk)
                 for n in sorted(lengths[i : i + sort_chunk])]
    real = slots = 0
    for i in range(0, len(order), batch_size):
        part = order[i : i + batch_size]
        real += sum(part)
        slots += max(part) * len(part)
    return 1 - real / slots


def etdecl_parts(run, rows: list[dict], batch_size: int) -> dict[str, float]:
    """One pass of predict's stages, timed apart: features, forward, decode."""
    from etdecl.engine import inference
    from etdecl.engine.evaluate import run_dataset

    view = inference.pick_dataset(run, None)
    tasks = [run.compiled.tasks[h] for h in run.compiled.dataset_heads[view.name]]
    t0 = time.perf_counter()
    examples = [inference.row_example(inference.Row(v, "bench", i + 1), view, tasks, i, False)
                for i, v in enumerate(rows)]
    ds = inference._features(run, view, examples, "bench")
    t1 = time.perf_counter()
    results, _ = run_dataset(inference.torch_forward(run), ds, batch_size, 1, 0, True,
                             with_targets=False)
    t2 = time.perf_counter()
    for t in ds.tasks:
        t.decode(results[t.name], ds.feats, ds.examples)
    t3 = time.perf_counter()
    return {"features": t1 - t0, "forward": t2 - t1, "decode": t3 - t2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="smoke run: 200 rows, one round")
    ap.add_argument("--no-onnx", action="store_true", help="leave out ONNX Runtime")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.rounds = 200, 1

    import torch
    from transformers import pipeline
    from untrained_run import untrained_run

    from etdecl.engine.inference import load_model, predict_file, torch_forward
    from etdecl.export.bundle import write_bundle
    from etdecl.export.hf import export_hf
    from etdecl.quiet import quiet_third_party

    quiet_third_party()
    tmp = Path(tempfile.mkdtemp(prefix="etdecl-predict-bench-"))
    run_dir = untrained_run(RECIPE, tmp / "run", ["encoders.plm.pooling=pooler"])
    run = load_model(run_dir)
    extra = None
    if not args.no_onnx:
        from etdecl.export.onnx_export import export_onnx

        def extra(folder: Path) -> dict:
            return {"onnx": {p.stem: str(p.relative_to(folder))
                             for p in export_onnx(run, folder)}}
    bundle = load_model(write_bundle(run, tmp / "bundle", extra=extra))
    export_hf(run, tmp / "hf")
    max_length = run.loaded.recipe.data.max_length
    data = texts(args.rows)
    rows = [{"text": t} for t in data]
    jsonl = tmp / "rows.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pipe = pipeline("text-classification", model=str(tmp / "hf"), tokenizer=str(tmp / "hf"),
                    device=-1, top_k=None)

    def run_etdecl(forward=None) -> list[str]:
        return [r["sentiment"]["label"] for _, r in
                predict_file(bundle, jsonl, batch_size=args.batch_size, forward=forward)]

    def run_pipeline() -> list[str]:
        out = pipe(data, batch_size=args.batch_size, truncation=True, max_length=max_length)
        return [max(scores, key=lambda s: s["score"])["label"] for scores in out]

    bf16 = torch_forward(bundle, "bf16")
    systems = {"etdecl predict (torch)": lambda: run_etdecl(),
               "transformers pipeline": run_pipeline,
               "etdecl predict (torch, bf16)": lambda: run_etdecl(bf16)}
    if bundle.manifest.get("onnx"):
        from etdecl.export.onnx_runtime import onnx_forward

        ort = onnx_forward(bundle, bundle.run_dir / bundle.manifest["onnx"]["main"])
        systems["etdecl predict (onnx)"] = lambda: run_etdecl(ort)
    # as in `etdecl predict`: the CLI's raised GC threshold, and the loaded models (both
    # systems') kept out of the cycle collector's walks
    gc.set_threshold(100_000, 50, 100)
    gc.collect()
    gc.freeze()
    for fn in systems.values():  # warm-up: first-call allocations, kernels, caches
        fn()
    seconds: dict[str, list[float]] = {name: [] for name in systems}
    labels: dict[str, list[str]] = {}
    for _ in range(args.rounds):
        for name, fn in systems.items():
            t = time.perf_counter()
            labels[name] = fn()
            seconds[name].append(time.perf_counter() - t)
    base = statistics.median(seconds["transformers pipeline"])
    print(f"\n{args.rows} Rotten Tomatoes texts, batch {args.batch_size}, max_length "
          f"{max_length}, {torch.get_num_threads()} threads, {args.rounds} interleaved "
          "rounds (medians)\n")
    print("| system | s | rows/s | vs pipeline | same labels as pipeline |\n|---|---|---|---|---|")
    for name in systems:
        s = statistics.median(seconds[name])
        agree = sum(a == b for a, b in zip(labels[name], labels["transformers pipeline"],
                                           strict=True)) / len(data)
        print(f"| {name} | {s:.2f} | {args.rows / s:.0f} | {base / s:.2f}x | {agree:.4f} |")
    parts = etdecl_parts(bundle, rows, args.batch_size)
    total = sum(parts.values())
    lengths = [len(ids) for ids in bundle.compiled.tokenizer(
        data, truncation=True, max_length=max_length)["input_ids"]]
    print("\nwhere etdecl's time goes: " + ", ".join(
        f"{k} {v / total:.0%}" for k, v in parts.items()))
    print(f"padding: etdecl {padding(lengths, args.batch_size, 512):.3f} (each chunk of 512 "
          f"rows sorted by length), pipeline {padding(lengths, args.batch_size):.3f} "
          "(input order)")


if __name__ == "__main__":
    main()
