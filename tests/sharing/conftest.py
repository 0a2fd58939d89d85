"""Fixtures for the sharing tests: gallery, diff, migration, CI hooks, fuzzing, crash safety,
data faults and security."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def token_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One token cache for every training subprocess of the session, never the user's."""
    return tmp_path_factory.mktemp("etdecl-cache")
