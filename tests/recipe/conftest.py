"""Fixtures for the recipe-language tests (etdecl/recipe, never torch): the repository root as
working directory and a CLI runner come from tests/conftest.py."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
