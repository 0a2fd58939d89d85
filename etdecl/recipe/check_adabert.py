"""AdaBERT's rules, checked without torch: a searched `adabert` encoder (no `architecture`)
needs `method: adabert` (in the recipe, or in the stage that trains it), and `method: adabert`
needs a searched encoder; the search runs on the `ddp` plugin (its architecture steps go
around the plugin's optimizer); a derived architecture fits its cell (located at the failing
node and edge), and a file that does not exist yet (a search still to run) is a warning;
`start: derived` follows an AdaBERT search stage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .adabert_space import GenotypeError, as_genotype, check_genotype, load_architecture
from .check import _err, check
from .errors import Problem
from .loaded import LoadedRecipe


def searched_encoders(recipe: Any) -> list[str]:
    """The adabert encoders whose cells are still to be searched (no architecture)."""
    return [n for n, e in recipe.encoders.items()
            if getattr(e, "type", None) == "adabert" and e.architecture is None]


def architecture_path(lr: LoadedRecipe, encoder: str) -> Path:
    """An encoder's `architecture:` file, resolved against the file that set it."""
    path = Path(lr.recipe.encoders[encoder].architecture).expanduser()
    return path if path.is_absolute() else lr.origin_dir("encoders", encoder,
                                                         "architecture") / path


def _inline_problem(lr: LoadedRecipe, name: str, err: GenotypeError) -> Problem:
    at: tuple = ("encoders", name, "architecture")
    if err.node is not None and lr.where(*at, err.node) is not None:
        at = (*at, err.node)
        if err.edge is not None and lr.where(*at, err.edge) is not None:
            at = (*at, err.edge)
    return _err(lr, at, str(err))


def _nodes_problem(lr: LoadedRecipe, name: str, got: int, cfg: Any) -> Problem | None:
    if got == cfg.nodes:
        return None
    return _err(lr, ("encoders", name, "architecture"), f"the architecture has {got} node(s) "
                f"but encoder '{name}' declares nodes: {cfg.nodes}",
                hint="set nodes to the architecture's length")


@check
def adabert_architectures_fit(lr: LoadedRecipe) -> Iterator[Problem]:
    for name, cfg in lr.recipe.encoders.items():
        if getattr(cfg, "type", None) != "adabert" or cfg.architecture is None:
            continue
        if isinstance(cfg.architecture, str):
            path = architecture_path(lr, name)
            if not path.is_file():
                yield _err(lr, ("encoders", name, "architecture"), f"{path} does not exist "
                           "(yet)", severity="warning",
                           hint="it is written by an AdaBERT search run (method: adabert)")
                continue
            try:
                genotype = load_architecture(path, name)
                check_genotype(genotype)
            except (GenotypeError, OSError, ValueError) as err:
                yield _err(lr, ("encoders", name, "architecture"), f"{path}: {err}")
                continue
        else:
            try:
                genotype = as_genotype(cfg.architecture)
                check_genotype(genotype)
            except GenotypeError as err:
                yield _inline_problem(lr, name, err)
                continue
        problem = _nodes_problem(lr, name, len(genotype), cfg)
        if problem is not None:
            yield problem


def _phases(recipe: Any) -> list[tuple[tuple, Any, bool]]:
    """(where the method is set, the method, whether the architecture is derived) per
    training: the recipe alone, or each stage."""
    if not recipe.stages:
        return [(("method", "type"), recipe.method, False)]
    out = []
    for k, stage in enumerate(recipe.stages):
        at = ("stages", k, "method", "type") if stage.method is not None else ("method", "type")
        out.append((at, stage.method or recipe.method, stage.start == "derived"))
    return out


@check
def adabert_method_and_encoders(lr: LoadedRecipe) -> Iterator[Problem]:
    recipe = lr.recipe
    searched = searched_encoders(recipe)
    phases = _phases(recipe)
    searching = any(m.type == "adabert" for _, m, _ in phases)
    for at, method, derived in phases:
        if searched and not derived and method.type != "adabert":
            yield _err(lr, at, f"encoder '{searched[0]}' is an adabert encoder without an "
                       f"architecture, which only method 'adabert' searches",
                       found=f"method: {method.type}", hint="use method: adabert, give the "
                       "encoder an architecture, or start this stage from the search's "
                       "(start: derived)")
            break
        if method.type == "adabert" and not searched:
            yield _err(lr, at, "method 'adabert' searches the cells of an adabert encoder "
                       "without an architecture, and this recipe has none",
                       hint="declare an encoder of type: adabert (no architecture:)")
            break
    if searching and recipe.parallel.plugin != "ddp":
        yield _err(lr, ("parallel", "plugin"), "an AdaBERT search steps its architecture "
                   "weights beside the plugin's optimizer, which only the ddp plugin allows",
                   found=f"plugin: {recipe.parallel.plugin}", hint="use parallel.plugin: ddp")
    for k, stage in enumerate(recipe.stages):
        if stage.start != "derived":
            continue
        before = recipe.stages[k - 1] if k else None
        method = (before.method or recipe.method) if before is not None else None
        if method is None or method.type != "adabert":
            yield _err(lr, ("stages", k, "start"), "start: derived retrains the cells an "
                       "AdaBERT search derived, so the stage before must search",
                       found="the first stage" if before is None else
                       f"stage '{before.name}' with method {method.type}",
                       hint="put a stage with method: {type: adabert} before this one")
