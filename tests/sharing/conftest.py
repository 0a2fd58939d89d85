"""Fixtures for the sharing tests: gallery, diff, migration, CI hooks, fuzzing, crash safety,
data faults and security."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths in messages are relative to the working directory; pin it to the repository."""
    monkeypatch.chdir(ROOT)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def token_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One token cache for every training subprocess of the session, never the user's."""
    return tmp_path_factory.mktemp("etdecl-cache")
