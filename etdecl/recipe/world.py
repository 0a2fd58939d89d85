"""Plan arithmetic that needs the world size (processes × machines); torch-free.

Run by the launcher before any process starts, and again inside each worker as a guard.
"""

from __future__ import annotations

from .errors import Problem, RecipeError
from .validate import LoadedRecipe


def world_problems(loaded: LoadedRecipe, world: int) -> list[Problem]:
    t = loaded.recipe.train
    problems = []
    if t.batch_size % (world * t.grad_accum):
        problems.append(Problem(
            f"train.batch_size ({t.batch_size}) must be divisible by the number of processes "
            f"({world}) times train.grad_accum ({t.grad_accum})",
            loc=loaded.where("train", "batch_size"), path="train.batch_size",
            expected=f"a multiple of {world * t.grad_accum}"))
    return problems


def check_world(loaded: LoadedRecipe, world: int) -> None:
    problems = world_problems(loaded, world)
    if problems:
        raise RecipeError(problems)
