"""Plan arithmetic that needs the world size (processes × machines); torch-free.

Run by the launcher before any process starts, and again inside each worker as a guard.
"""

from __future__ import annotations

from .batch_math import batch_layout
from .errors import Problem, RecipeError
from .loaded import LoadedRecipe


def layout(loaded: LoadedRecipe, world: int) -> tuple[int, int, int]:
    """(dp, tp, pp) for this many processes; dp is what is left after tp × pp."""
    b = batch_layout(loaded.recipe.parallel, loaded.recipe.train, world)
    return b.dp, b.tp, b.pp


def world_problems(loaded: LoadedRecipe, world: int) -> list[Problem]:
    """world = dp × tp × pp, and the global batch splits evenly over dp and micro-batches."""
    t = loaded.recipe.train
    p = loaded.recipe.parallel
    problems = []
    where = loaded.where
    if p.world_size is not None and p.world_size != world:
        problems.append(Problem(
            f"this plan is written for {p.world_size} processes, but {world} were launched",
            loc=where("parallel", "world_size"), path="parallel.world_size",
            expected=str(p.world_size), found=str(world)))
    if world % (p.tp * p.pp):
        problems.append(Problem(
            f"{world} processes cannot be laid out as dp × tp ({p.tp}) × pp ({p.pp})",
            loc=where("parallel", "tp" if p.tp > 1 else "pp"), path="parallel",
            expected=f"a multiple of {p.tp * p.pp} processes", found=str(world)))
        return problems
    b = batch_layout(p, t, world)
    dp, micro = b.dp, b.micro
    if p.pp > 1:
        if t.batch_size % (dp * micro):
            problems.append(Problem(
                f"train.batch_size ({t.batch_size}) must be divisible by the data-parallel size "
                f"({dp}) times parallel.microbatches ({micro})",
                loc=where("train", "batch_size"), path="train.batch_size",
                expected=f"a multiple of {dp * micro}"))
    elif t.batch_size % (dp * t.grad_accum):
        problems.append(Problem(
            f"train.batch_size ({t.batch_size}) must be divisible by the data-parallel size "
            f"({dp}) times train.grad_accum ({t.grad_accum})",
            loc=where("train", "batch_size"), path="train.batch_size",
            expected=f"a multiple of {dp * t.grad_accum}"))
    return problems


def check_world(loaded: LoadedRecipe, world: int) -> None:
    problems = world_problems(loaded, world)
    if problems:
        raise RecipeError(problems)
