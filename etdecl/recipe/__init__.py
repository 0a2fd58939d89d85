"""The recipe language: load, merge, validate and fingerprint recipes. Never imports torch.

The names below are imported on first use (PEP 562), so importing one light module of this
package (`etdecl.recipe.errors`, as the CLI does at start-up) does not build the pydantic
models of the whole recipe language.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import Location, Problem, RecipeError
    from .loaded import LoadedRecipe
    from .schema import Recipe
    from .validate import load_recipe

_HOME = {"Location": "errors", "Problem": "errors", "RecipeError": "errors",
         "LoadedRecipe": "loaded", "Recipe": "schema", "load_recipe": "validate"}

__all__ = ["Location", "LoadedRecipe", "Problem", "Recipe", "RecipeError", "load_recipe"]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value
