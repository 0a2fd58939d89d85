"""Fixtures for compile/data/engine tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_support import TINY_RECIPE, synthetic_rows, write_jsonl


@pytest.fixture
def tiny_recipe(tmp_path: Path):
    """Factory: write train/dev data and a tiny-model recipe into tmp_path; return its path."""

    def make(
        epochs: int = 1,
        dropout: float = 0.1,
        pooling: str = "mean",
        n_train: int = 320,
        n_dev: int = 64,
    ) -> Path:
        write_jsonl(tmp_path / "train.jsonl", synthetic_rows(n_train, seed=1))
        write_jsonl(tmp_path / "dev.jsonl", synthetic_rows(n_dev, seed=2))
        path = tmp_path / "tiny.yaml"
        path.write_text(TINY_RECIPE.format(epochs=epochs, dropout=dropout, pooling=pooling))
        return path

    return make


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ETDECL_CACHE", str(tmp_path_factory.getbasetemp() / "etdecl-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
