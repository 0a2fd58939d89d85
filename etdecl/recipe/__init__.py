"""The recipe language: load, merge, validate and fingerprint recipes. Never imports torch."""

from .errors import Location, Problem, RecipeError
from .loaded import LoadedRecipe
from .schema import Recipe
from .validate import load_recipe

__all__ = ["Location", "LoadedRecipe", "Problem", "Recipe", "RecipeError", "load_recipe"]
