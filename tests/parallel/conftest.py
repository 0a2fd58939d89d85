"""Fixtures for parallel-plan tests: the tiny recipe of tests/training, and a plan table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

from training_support import TINY_RECIPE, synthetic_rows, write_jsonl  # noqa: E402


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    write_jsonl(folder / "train.jsonl", synthetic_rows(320, seed=1))
    write_jsonl(folder / "dev.jsonl", synthetic_rows(64, seed=2))
    (folder / "tiny.yaml").write_text(TINY_RECIPE.format(epochs=1, dropout=0.0,
                                                         pooling="mean"))
    return folder
