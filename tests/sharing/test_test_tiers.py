"""Test tiers: the quick loop the README documents leaves out the `slow` and `dist` tests,
and the README's test command, which `.ci/run` runs, stays the full suite."""

from __future__ import annotations

import importlib
import re
import shlex

import pytest
from sharing_support import ROOT  # also puts tests/training on the path

QUICK = 'pytest -q -m "not slow and not dist"'


def test_readme_documents_the_quick_loop_and_ci_runs_the_full_suite() -> None:
    readme = (ROOT / "README.md").read_text()
    setup, contributing = readme.split("## Contributing", 1)
    assert QUICK in contributing.split("\n## ", 1)[0]
    ci = (ROOT / ".ci" / "run").read_text()
    [command] = re.findall(r"^bash scripts/install.sh && .*pytest.*$", ci, flags=re.M)
    assert command in setup  # the set-up section's command, verbatim
    pytest_args = shlex.split(command.split("-m pytest", 1)[1])
    assert pytest_args == ["-q"]  # the full suite: no marker or keyword selection


@pytest.mark.parametrize(("test", "marker"), [
    ("test_quickstart_recipe_trains_on_200_rows", "slow"),
    ("test_two_process_ddp_matches_one_process", "dist"),
])
def test_training_tests_carry_their_tier(test: str, marker: str) -> None:
    module = importlib.import_module("test_train")
    marks = {m.name for m in getattr(getattr(module, test), "pytestmark", [])}
    assert marker in marks


def test_tiers_are_declared() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    for marker in ("slow", "dist"):
        assert f'"{marker}: ' in text
    assert '--strict-markers' in text  # an undeclared (misspelt) marker is an error
