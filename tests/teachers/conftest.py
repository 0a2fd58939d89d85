"""Fixtures for the teacher tests: the training helpers (synthetic rows), the teacher writers
of teacher_support.py and an isolated token cache."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from teacher_support import make_bundle, make_run  # noqa: E402
from training_support import synthetic_rows, write_jsonl  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ETDECL_CACHE", str(tmp_path_factory.getbasetemp() / "etdecl-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder with the synthetic data, a teacher run `runs/teacher` (4 layers, width 64,
    4 heads) and a bundle `bundles/teacher` of the same shape."""
    write_jsonl(tmp_path / "train.jsonl", synthetic_rows(32, seed=1))
    write_jsonl(tmp_path / "dev.jsonl", synthetic_rows(16, seed=2))
    make_run(tmp_path / "runs" / "teacher")
    make_bundle(tmp_path / "bundles" / "teacher")
    return tmp_path
