"""What the experiment scripts share: the commit a report was written at, and one training run
in this process (no interpreter start per run)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True)
    return out.stdout.strip() or "unknown"


def train_one(recipe: Path, sets: list[str], run_dir: Path) -> float:
    """Train a recipe with `--set` overrides into `run_dir`; returns wall seconds (a staged
    recipe: all its stages). Exits the script when the training fails."""
    from etdecl.engine.launch import launch
    from etdecl.recipe.validate import load_recipe

    loaded = load_recipe(recipe, sets)
    started = time.perf_counter()
    code = launch(loaded, run_dir=run_dir)
    if code != 0:
        raise SystemExit(f"training {run_dir} failed (exit {code})")
    return time.perf_counter() - started
