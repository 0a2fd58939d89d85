"""Fixtures for the teacher tests: the training helpers (tiny BERT, synthetic rows), an isolated
token cache, and one tiny trained teacher run per module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ETDECL_CACHE", str(tmp_path_factory.getbasetemp() / "etdecl-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
