"""The Table 10 script's overrides turn every method's gallery recipe into the protocol's recipe:
valid, reading the shared data, taught by the teacher run it names, in the protocol's precision
(bf16 where the CPU has bf16 units, else fp32) at the budget."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "distill_study", ROOT / "scripts" / "experiments" / "distill.py")
assert _spec and _spec.loader
distill = importlib.util.module_from_spec(_spec)
sys.modules["distill_study"] = distill  # dataclasses look their module up
_spec.loader.exec_module(distill)


@pytest.mark.parametrize("name", list(distill.METHODS))
def test_every_method_has_a_gallery_recipe_the_overrides_keep_valid(name, tmp_path):
    method = distill.METHODS[name]
    path = ROOT / "recipes" / f"{method.recipe}.yaml"
    teacher = tmp_path / "teacher-run"
    sets = distill.overrides(distill.Budget(), tmp_path, 3, teacher, False) + list(method.sets)
    recipe = load_recipe(path, sets, check_data=False).recipe
    assert recipe.teachers["teacher"].source == str(teacher)
    assert recipe.data.train.path == str(tmp_path / "multi_domain_sentiment" / "train.jsonl")
    assert recipe.train.seed == 3 and recipe.parallel.precision == distill.precision()
    assert recipe.data.max_length == distill.Budget().max_length
    if method.sets == distill.NONE:  # student-only: the same student, nothing taught
        assert recipe.teachers["teacher"].objectives.names() == []


@pytest.mark.parametrize("teacher", list(distill.TEACHERS.values()))
def test_the_teacher_recipes_train_without_teachers(teacher, tmp_path):
    sets = distill.overrides(distill.Budget(), tmp_path, 1, None, True)
    recipe = load_recipe(ROOT / "recipes" / f"{teacher}.yaml", sets, check_data=False).recipe
    assert not recipe.teachers and recipe.train.epochs == distill.Budget().teacher_epochs
