"""`plan` and the run summary at 80 columns (and piped): every number whole, nothing cut to "…"."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from training_support import run_cli

from etdecl.consoles import make_console
from etdecl.plan import print_plan
from etdecl.recipe.validate import load_recipe


def _numbers(text: str) -> set[str]:
    """Every word holding a digit (counts, sizes, ranges, the fingerprint, names such as
    `fp32`), as written; paths are left out (a long path may fold, it is not a number)."""
    words = (w.strip("()[],;:'\"") for w in text.split() if "/" not in w)
    return {w for w in words if any(c.isdigit() for c in w)}


def _whole(word: str, text: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(word)}(?!\w|\.\w|,\d)", text) is not None


def _plan(recipe: Path, width: int, overrides: list[str], nproc: int) -> str:
    buf = io.StringIO()
    print_plan(load_recipe(recipe, overrides), world_size=nproc,
               console=make_console(file=buf, width=width))
    return buf.getvalue()


@pytest.mark.parametrize(("nproc", "overrides"), [
    (1, []),
    (2, ["parallel.plugin=hybrid", "parallel.tp=2"]),
    (2, ["parallel.plugin=hybrid", "parallel.pp=2", "train.batch_size=8"]),
], ids=["1-process", "tp2", "pp2"])
def test_plan_at_80_columns_shows_every_number_whole(tiny_recipe, nproc, overrides) -> None:
    recipe = tiny_recipe()
    wide = _plan(recipe, 1000, overrides, nproc)
    expected = _numbers(wide)
    assert load_recipe(recipe, overrides).fingerprint in expected
    for width in (80, 120):  # a terminal, and piped output (PIPED_WIDTH)
        narrow = _plan(recipe, width, overrides, nproc)
        assert "…" not in narrow
        assert max(len(line) for line in narrow.splitlines()) <= width
        missing = sorted(n for n in expected if not _whole(n, narrow))
        assert not missing, (width, missing, narrow)


def test_run_summary_at_80_columns_shows_every_value_whole(tiny_recipe, tmp_path,
                                                           monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    run = tmp_path / "run"
    proc = run_cli("train", str(tiny_recipe(n_train=64, n_dev=16)), "--run-dir", str(run),
                   "--set", "train.max_steps=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "…" not in proc.stderr
    rows = [line.split(" | ") for line in (run / "summary.md").read_text().splitlines()
            if line.startswith("| ") and not line.startswith("| |")]
    values = {row[1].rstrip(" |") for row in rows if row[0] != "| run directory"}
    expected = set().union(*(_numbers(v) for v in values))
    assert expected, rows
    missing = sorted(n for n in expected if not _whole(n, proc.stderr))
    assert not missing, (missing, proc.stderr[-3000:])
