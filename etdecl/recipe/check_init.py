"""`train.init_from`: the run directory or bundle a run starts from, checked without torch.

A data check (it reads the file system, and `--no-data` skips it like data files): a path
that exists but is neither a run directory (`recipe.yaml`) nor a bundle (`manifest.json`) is
an error; a path that does not exist yet, or a run with no best checkpoint yet, is a warning,
since a staged recipe is validated before its source stage has trained. Training checks again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from .check import _err, data_check
from .errors import Problem
from .loaded import LoadedRecipe
from .paths import resolve_data_path

AT = ("train", "init_from")


def init_path(lr: LoadedRecipe) -> Path:
    """`train.init_from` resolved against the file that set it. Raises KeyError for an unset
    `${VAR}` without default."""
    value = lr.recipe.train.init_from
    assert value is not None
    return Path(os.path.normpath(resolve_data_path(value, lr.origin_dir(*AT))))


def init_source_kind(path: Path) -> str:
    """'bundle', 'run', 'missing', or what else it is ('file', 'folder')."""
    if (path / "manifest.json").is_file():
        return "bundle"
    if (path / "recipe.yaml").is_file():
        return "run"
    if not path.exists():
        return "missing"
    return "folder" if path.is_dir() else "file"


def has_best_weights(run_dir: Path) -> bool:
    if (run_dir / "stages.json").is_file():  # a staged run: its last finished stage's
        import json

        stages = json.loads((run_dir / "stages.json").read_text()).get("stages", [])
        done = [s for s in stages if s.get("status") == "done"]
        if not done:
            return False
        run_dir = run_dir / done[-1]["run_dir"]
    best = run_dir / "checkpoints" / "best"
    return (best / "model.safetensors").is_file() or (best / "model").is_dir()


@data_check
def init_from_is_a_run_or_bundle(lr: LoadedRecipe) -> Iterator[Problem]:
    if lr.recipe.train.init_from is None:
        return
    try:
        path = init_path(lr)
    except KeyError as err:
        yield _err(lr, AT, f"environment variable {err.args[0]} is not set and has no default",
                   hint="set it, or write `${VAR:-default}`")
        return
    kind = init_source_kind(path)
    if kind == "missing":
        yield _err(lr, AT, f"init_from not found (checked at training time): {path}",
                   severity="warning", hint="train the source stage first")
    elif kind == "run" and not has_best_weights(path):
        yield _err(lr, AT, f"init_from run has no best checkpoint yet (checked at training "
                   f"time): {path}", severity="warning")
    elif kind == "bundle" and not (path / "model.safetensors").is_file():
        yield _err(lr, AT, f"init_from bundle has no model.safetensors: {path}")
    elif kind not in ("run", "bundle"):
        yield _err(lr, AT, "init_from is neither a run directory nor an exported bundle",
                   expected="a folder with recipe.yaml (a run) or manifest.json (a bundle)",
                   found=f"a {kind}: {path}",
                   hint="point it at the run directory of the source stage (e.g. runs/NAME)")
