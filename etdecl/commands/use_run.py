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

RunDir = Annotated[Path, typer.Argument(help="A run directory written by `etdecl train`.")]
Checkpoint = Annotated[str, typer.Option(help="Which weights: 'best' (by train.metric) or "
                                              "'last'.")]
DatasetOpt = Annotated[str | None, typer.Option(
    help="Whose heads and field mapping to use, in a recipe with several datasets.")]


def _fail(err: Exception) -> typer.Exit:
    say(f"error: {err}", stderr=True)
    return typer.Exit(1)


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
) -> None:
    """Score a finished run on a labelled file: every head's metrics, printed as a table and
    written to RUN_DIR/evaluations/NAME.json."""
    from ..datafiles.readers import DataError
    from ..engine.inference import RunError, evaluate_file
    from ..tables import key_value_table

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise _fail(ValueError(f"--name '{name}' must be letters, digits, '.', '_' or '-'"))
    run = _load(run_dir, checkpoint)
    started = time.perf_counter()
    try:
        metrics = evaluate_file(run, data, dataset)
    except (DataError, RunError) as e:
        raise _fail(e) from None
    record = {"name": name, "data": str(data), "checkpoint": str(run.checkpoint),
              "fingerprint": run.loaded.fingerprint, "metrics": metrics,
              "seconds": round(time.perf_counter() - started, 2)}
    folder = run_dir / "evaluations"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    rows = [(k, f"{v:.4f}") for k, v in metrics.items() if isinstance(v, float)]
    out = _console.out
    out.print(key_value_table(out, f"{run.loaded.recipe.name}: {name} ({data})", rows),
              soft_wrap=False)
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
) -> None:
    """Label every row of a file with a finished run: class and probabilities, tags per word,
    or answer text with character offsets. Streams: any size of file, a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ..consoles import make_console
    from ..datafiles.readers import DataError
    from ..engine.inference import RunError, predict_file

    run = _load(run_dir, checkpoint)
    total = _count_lines(input)
    tmp = output.with_name(output.name + ".tmp")
    n = 0
    progress = Progress(TextColumn("predict"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), console=make_console(stderr=True))
    started = time.perf_counter()
    try:
        with progress, open(tmp, "w", encoding="utf-8") as fh:
            task = progress.add_task("predict", total=total, rate="")
            for line, record in predict_file(run, input, dataset, chunk=chunk):
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                n += 1
                rate = n / max(time.perf_counter() - started, 1e-9)
                progress.update(task, completed=line, rate=f"{rate:.1f} rows/s")
    except (DataError, RunError) as e:
        tmp.unlink(missing_ok=True)
        raise _fail(e) from None
    tmp.replace(output)
    say(f"{n} predictions written to {output}")
