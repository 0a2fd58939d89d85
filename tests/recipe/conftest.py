"""Fixtures for the recipe-language tests (etdecl/recipe, never torch)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Recipe paths in messages are relative to the working directory; pin it to the repo."""
    monkeypatch.chdir(ROOT)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
