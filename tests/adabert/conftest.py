"""Fixtures for the AdaBERT tests: the training and teacher helpers on the path, an isolated
token cache, offline."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for folder in (HERE.parent / "training", HERE.parent / "teachers", HERE):
    sys.path.insert(0, str(folder))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ETDECL_CACHE", str(tmp_path_factory.getbasetemp() / "etdecl-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
