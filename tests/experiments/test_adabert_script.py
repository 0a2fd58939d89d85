"""The AdaBERT script: its methods' recipes stay valid under the Table 10 overrides (AdaBERT's
staged recipe included, each stage), and the frontier is the set of models no other model
beats in both accuracy and speed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "experiments"))
_spec = importlib.util.spec_from_file_location(
    "adabert_study", ROOT / "scripts" / "experiments" / "adabert.py")
assert _spec and _spec.loader
adabert = importlib.util.module_from_spec(_spec)
sys.modules["adabert_study"] = adabert
_spec.loader.exec_module(adabert)


def row(name: str, acc: float, speed: float) -> dict:
    return {"method": name, "accuracy": acc, "speedup": speed}


def test_frontier_keeps_the_undominated_models() -> None:
    rows = [row("teacher", 0.86, 1.0), row("kd", 0.80, 2.8), row("cnn", 0.79, 11.0),
            row("slow-and-worse", 0.78, 2.0), row("tie", 0.80, 2.8)]
    assert adabert.frontier(rows) == {"teacher", "kd", "cnn", "tie"}
    assert adabert.frontier([row("a", 0.8, 2.0), row("b", 0.8, 3.0)]) == {"b"}


@pytest.mark.parametrize("name", list(adabert.METHODS))
def test_the_methods_recipes_stay_valid_under_the_protocol(name: str, tmp_path: Path) -> None:
    from etdecl.engine.stages import stage_overrides

    method = adabert.METHODS[name]
    path = ROOT / "recipes" / f"{method.recipe}.yaml"
    sets = adabert.D.overrides(adabert.D.Budget(), tmp_path, 1, tmp_path / "teacher", False)
    loaded = load_recipe(path, sets + list(method.sets), check_data=False)
    for k in range(len(loaded.recipe.stages)):  # each stage as run_stages loads it
        stage = load_recipe(path, sets + list(method.sets) + stage_overrides(
            loaded, k, tmp_path / "previous" if k else None), check_data=False)
        if name == "AdaBERT":
            assert stage.recipe.method.type == ("adabert", "distill")[k]
