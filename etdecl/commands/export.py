"""`etdecl export`: a finished run (or a bundle) written as a bundle, the Hugging Face layout or
ONNX graphs. Imports torch only when called."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ..consoles import say
from . import _console
from .use_run import Checkpoint, _fail, _load

FORMATS = ("bundle", "hf", "onnx")

WHAT_LOADS = {
    "bundle": "etdecl evaluate / predict / serve",
    "hf": "transformers AutoModelFor*.from_pretrained, pipeline(); etdecl does not load it back",
    "onnx": "etdecl evaluate / predict / serve (--backend onnx), and any ONNX Runtime with "
            "the tokenizer's tokenizer.json",
}


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _hf(run: Any, output: Path, force: bool) -> None:
    from ..export.hf import export_hf

    if output.exists():
        if not force:
            raise _fail(FileExistsError(f"{output} already exists; choose another --output, "
                                        "or pass --force to replace it"))
        tmp = output.with_name(f".{output.name}.new")
        shutil.rmtree(tmp, ignore_errors=True)
        export_hf(run, tmp)
        shutil.rmtree(output)
        tmp.rename(output)
    else:
        export_hf(run, output)


def _onnx_extra(run: Any, dataset: str | None):
    def extra(folder: Path) -> dict[str, Any]:
        from ..export.onnx_export import export_onnx

        paths = export_onnx(run, folder, dataset)
        return {"onnx": {p.stem: str(p.relative_to(folder)) for p in paths}}

    return extra


def export(
    model: Annotated[Path, typer.Argument(help="A run directory written by `etdecl train`, "
                                               "or a bundle.")],
    output: Annotated[Path, typer.Option("--output", help="Folder to write (must not exist "
                                                          "unless --force).")],
    format: Annotated[str, typer.Option("--format", help="bundle: weights, tokenizers, recipe "
                                        "and manifest for etdecl; hf: the Hugging Face layout; "
                                        "onnx: a bundle plus ONNX graphs.")] = "bundle",
    checkpoint: Checkpoint = "best",
    dataset: Annotated[str | None, typer.Option(
        help="onnx: export only this dataset's graph (default: every dataset's).")] = None,
    force: Annotated[bool, typer.Option(help="Replace --output if it exists.")] = False,
) -> None:
    """Write a finished run as something another program loads: a bundle (for evaluate,
    predict and serve, without the run directory or the pretrained model packages), the
    Hugging Face layout (AutoModelFor*.from_pretrained), or a bundle with ONNX graphs."""
    from ..engine.inference import RunError
    from ..export.bundle import write_bundle
    from ..recipe.errors import RecipeError
    from ..tables import key_value_table

    if format not in FORMATS:
        raise _fail(ValueError(f"--format must be one of {', '.join(FORMATS)}, not '{format}'"))
    run = _load(model, checkpoint)
    started = time.perf_counter()
    try:
        if format == "hf":
            _hf(run, output, force)
        else:
            extra = _onnx_extra(run, dataset) if format == "onnx" else None
            write_bundle(run, output, force, extra)
    except (RunError, RecipeError, FileExistsError) as err:
        raise _fail(err) from None
    rows = [("format", format), ("from", str(run.checkpoint)),
            ("recipe", f"{run.loaded.recipe.name} ({run.loaded.fingerprint[:12]})"),
            ("heads", ", ".join(f"{h} ({t.kind})" for h, t in run.compiled.tasks.items())),
            ("size", f"{_size(output) / 1e6:.1f} MB"),
            ("seconds", f"{time.perf_counter() - started:.2f}"),
            ("loaded by", WHAT_LOADS[format])]
    out = _console.out
    out.print(key_value_table(out, f"exported to {output}", rows), soft_wrap=False)
    say(f"written to {output}")
