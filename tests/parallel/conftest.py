"""Fixtures for parallel-plan tests: the tiny recipe of tests/training, and a plan table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

from training_support import TINY_RECIPE, synthetic_rows, write_jsonl  # noqa: E402

PLANS: dict[str, dict[str, object]] = {
    "ddp": {"plugin": "ddp"},
    "zero1": {"plugin": "zero", "zero_stage": 1},
    "zero2": {"plugin": "zero", "zero_stage": 2},
    "hybrid-dp": {"plugin": "hybrid"},
    "tp2": {"plugin": "hybrid", "tp": 2},
    "pp2": {"plugin": "hybrid", "pp": 2},
    "pp2-zero1-bf16": {"plugin": "hybrid", "pp": 2, "zero_stage": 1, "precision": "bf16"},
    "gemini-bf16": {"plugin": "gemini", "precision": "bf16"},
}


def plan_overrides(name: str) -> list[str]:
    out = []
    for key, value in PLANS[name].items():
        out += ["--set", f"parallel.{key}={value}"]
    return out


def tolerance(name: str) -> float:
    """Against one process of the same plugin and precision: fp32 agrees to reduction order;
    bf16 rounds weights differently once gradients are summed in another order."""
    return 2e-2 if "bf16" in name else 1e-3


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    write_jsonl(folder / "train.jsonl", synthetic_rows(320, seed=1))
    write_jsonl(folder / "dev.jsonl", synthetic_rows(64, seed=2))
    (folder / "tiny.yaml").write_text(TINY_RECIPE.format(epochs=1, dropout=0.0,
                                                         pooling="mean"))
    return folder
