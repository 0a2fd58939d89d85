"""`etdecl evaluate` and `etdecl predict`: a finished run scores a labelled file, or labels an
unlabelled one. They load torch, so they are imported only when called."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Annotated

import typer

from ..consoles import say
from . import _console

RunDir = Annotated[Path, typer.Argument(help="A run directory written by `etdecl train`, or a "
                                              "bundle written by `etdecl export`.")]
Checkpoint = Annotated[str, typer.Option(help="Which weights: 'best' (by train.metric) or "
                                              "'last'.")]
DatasetOpt = Annotated[str | None, typer.Option(
    help="Whose heads and field mapping to use, in a recipe with several datasets.")]
Backend = Annotated[str, typer.Option(
    help="torch, or onnx: ONNX Runtime on the graphs of a bundle exported with --format onnx.")]
Precision = Annotated[str, typer.Option(
    help="torch backend: recipe (the recipe's parallel.precision: bf16 runs under CPU "
         "autocast, about 2x fp32 on CPUs with bf16 units), fp32 or bf16.")]


def _fail(err: Exception) -> typer.Exit:
    from ..recipe.errors import RecipeError

    # a recipe error says `file:line:col: error: ...` itself
    say(str(err) if isinstance(err, RecipeError) else f"error: {err}", stderr=True)
    return typer.Exit(1)


def _forward(run, dataset: str | None, backend: str, precision: str = "recipe"):
    """The graph in torch at the precision asked, or ONNX Runtime on the dataset's graph."""
    from ..engine.inference import RunError, pick_dataset, torch_forward

    if backend not in ("torch", "onnx"):
        raise _fail(ValueError(f"--backend must be 'torch' or 'onnx', not '{backend}'"))
    try:
        if backend == "torch":
            return torch_forward(run, precision)
        if precision == "bf16":
            raise RunError("--precision bf16 applies to the torch backend; the ONNX graphs "
                           "run in fp32")
        view = pick_dataset(run, dataset)
        graphs = (run.manifest or {}).get("onnx", {})
        if view.name not in graphs:
            raise RunError(f"{run.run_dir} has no ONNX graph for dataset '{view.name}': export "
                           "it with `etdecl export ... --format onnx`")
    except RunError as e:
        raise _fail(e) from None
    from ..export.onnx_runtime import onnx_forward

    return onnx_forward(run, run.run_dir / graphs[view.name])


def _precision_used(run, backend: str, precision: str) -> str:
    from ..engine.inference import inference_precision

    return "fp32" if backend == "onnx" else inference_precision(run, precision)


def _load(run_dir: Path, checkpoint: str):
    from ..engine.inference import RunError, load_model
    from ..quiet import quiet_third_party
    from ..recipe.errors import RecipeError

    quiet_third_party()
    if checkpoint not in ("best", "last"):
        raise _fail(ValueError(f"--checkpoint must be 'best' or 'last', not '{checkpoint}'"))
    try:
        return load_model(run_dir, checkpoint)
    except (RunError, RecipeError) as e:
        raise _fail(e) from None


def evaluate(
    run_dir: RunDir,
    data: Annotated[Path, typer.Option(help="Labelled file (JSONL/CSV/TSV) with the recipe's "
                                            "field names.")],
    name: Annotated[str, typer.Option(help="Name of this evaluation in the run directory.")]
    = "test",
    dataset: DatasetOpt = None,
    checkpoint: Checkpoint = "best",
    backend: Backend = "torch",
    precision: Precision = "recipe",
) -> None:
    """Score a finished run on a labelled file: every head's metrics, printed as a table and
    written to RUN_DIR/evaluations/NAME.json."""
    from ..datafiles.readers import DataError
    from ..engine.inference import RunError, evaluate_file
    from ..tables import key_value_table

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise _fail(ValueError(f"--name '{name}' must be letters, digits, '.', '_' or '-'"))
    run = _load(run_dir, checkpoint)
    forward = _forward(run, dataset, backend, precision)
    started = time.perf_counter()
    try:
        metrics = evaluate_file(run, data, dataset, forward=forward)
    except (DataError, RunError) as e:
        raise _fail(e) from None
    record = {"name": name, "data": str(data), "checkpoint": str(run.checkpoint),
              "backend": backend, "precision": _precision_used(run, backend, precision),
              "fingerprint": run.loaded.fingerprint, "metrics": metrics,
              "seconds": round(time.perf_counter() - started, 2)}
    folder = run_dir / "evaluations"
    try:
        folder.mkdir(exist_ok=True)
        (folder / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    except OSError as e:  # a bundle deployed read-only: the table is the result
        say(f"warning: not written to {folder} ({e.strerror})", stderr=True)
        folder = None
    rows = [(k, f"{v:.4f}") for k, v in metrics.items() if isinstance(v, float)]
    out = _console.out
    out.print(key_value_table(out, f"{run.loaded.recipe.name}: {name} ({data})", rows),
              soft_wrap=False)
    if folder is not None:
        say(f"written to {folder / (name + '.json')}")


def _count_lines(path: Path) -> int | None:
    if path.suffix in (".gz", ".bz2", ".xz"):
        return None
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def predict(
    run_dir: RunDir,
    input: Annotated[Path, typer.Option("--input", help="Rows to label (no labels needed).")],
    output: Annotated[Path, typer.Option("--output", help="Predictions, one JSON per line.")],
    dataset: DatasetOpt = None,
    checkpoint: Checkpoint = "best",
    chunk: Annotated[int, typer.Option(help="Rows read, tokenised and predicted at a time.")]
    = 512,
    batch_size: Annotated[int, typer.Option(help="Rows per forward pass.")] = 64,
    backend: Backend = "torch",
    precision: Precision = "recipe",
) -> None:
    """Label every row of a file with a finished run: class and probabilities, tags per word,
    or answer text with character offsets. Streams: any size of file, a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ..consoles import make_console
    from ..datafiles.readers import DataError
    from ..engine.inference import RunError, predict_file

    run = _load(run_dir, checkpoint)
    forward = _forward(run, dataset, backend, precision)
    total = _count_lines(input)
    tmp = output.with_name(output.name + ".tmp")
    n = 0
    progress = Progress(TextColumn("predict"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), console=make_console(stderr=True))
    started = time.perf_counter()
    try:
        with progress, open(tmp, "w", encoding="utf-8") as fh:
            task = progress.add_task("predict", total=total, rate="")
            for line, record in predict_file(run, input, dataset, chunk=chunk,
                                             batch_size=batch_size, forward=forward):
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                n += 1
                rate = n / max(time.perf_counter() - started, 1e-9)
                progress.update(task, completed=line, rate=f"{rate:.1f} rows/s")
    except (DataError, RunError) as e:
        tmp.unlink(missing_ok=True)
        raise _fail(e) from None
    tmp.replace(output)
    say(f"{n} predictions written to {output}")
