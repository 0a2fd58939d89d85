"""Fixtures for the export, bundle and serve tests: finished runs of every task type."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_support import make_run


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """Factory: a finished run of a kind (made once per session)."""
    made: dict[str, Path] = {}
    root = tmp_path_factory.mktemp("runs")

    def get(kind: str) -> Path:
        if kind not in made:
            made[kind] = make_run(root, kind)
        return made[kind]

    return get


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ETDECL_CACHE", str(tmp_path_factory.getbasetemp() / "etdecl-cache"))
