"""Fuzzing `validate`: whatever a recipe file or `--set` string holds, the only thing that may
come out of `load_recipe` is a RecipeError whose problems are located.

Profiles, chosen by the environment variable ETDECL_FUZZ_PROFILE:
  ci       (default)  1,500 recipes + 400 override lists, derandomised: the same every run
  nightly             10,000 recipes + 2,000 override lists, a fresh random seed each run
bench/fuzz_validate.py runs the nightly profile and prints the count and the wall time.
"""

from __future__ import annotations

import os

import pytest
from fuzz_recipes import SEEDS, check, override_lists, recipe_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

COMMON = dict(deadline=None, database=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
settings.register_profile("ci", max_examples=1_500, derandomize=True, **COMMON)
settings.register_profile("nightly", max_examples=10_000, **COMMON)
PROFILE = os.environ.get("ETDECL_FUZZ_PROFILE", "ci")
RECIPES = settings(settings.get_profile(PROFILE))
OVERRIDES = settings(RECIPES, max_examples=RECIPES.max_examples // 5 if PROFILE == "nightly"
                     else 400)


@RECIPES
@given(case=recipe_files(), check_data=st.booleans(), data=st.data())
def test_any_recipe_file_gives_located_problems(case, check_data: bool, data) -> None:
    kind, raw = case
    overrides = data.draw(override_lists()) if data.draw(st.integers(0, 4)) == 0 else []
    check(kind, raw, overrides, check_data)


@OVERRIDES
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_any_override_gives_located_problems(seed, data) -> None:
    from fuzz_recipes import dump

    overrides = data.draw(override_lists(seed))
    check("overrides", dump(seed, None).encode(), overrides, check_data=False)


# Inputs that once escaped as something other than a located RecipeError, kept as regressions.
FOUND = [
    ["etdecl=? [1]"],  # a list as a mapping key: the problem text crashed in json.dumps
    ["train.lr\x00"],  # a NUL in an override's name
    ["heads.cls.labels=&a [*a]"],  # a value that contains itself: RecursionError
    ["name=!!binary aGk="],  # a core tag in an override: bytes behind the schema's back
]


@pytest.mark.parametrize("overrides", FOUND, ids=range(len(FOUND)))
def test_inputs_the_fuzzer_found(overrides: list[str]) -> None:
    from fuzz_recipes import dump

    assert check("found", dump(SEEDS[0], None).encode(), overrides, check_data=False) == \
        "invalid"
