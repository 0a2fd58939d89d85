"""Staged training, its `train:` fields and student extraction, checked without torch: an hf
encoder's `layers` lie within its model's depth; `train.datasets` and every
stage's `data` name datasets, a stage's objectives name teachers, its `freeze` names `hf`
encoders, `hard` needs the stage's method (its own `method:`, else the recipe's) to be
`distill`, and gradual unfreezing needs the `ddp` plugin (the ZeRO, Gemini and hybrid
optimizers keep their own gradient buffers, which a frozen layer's dropped gradient would not
reach). A stage's own method is otherwise judged by its method's checks (`check_meta.py`)."""

from __future__ import annotations

from collections.abc import Iterator

from .check import _at_key, _err, check
from .datasets import datasets
from .errors import Problem, did_you_mean, one_of
from .loaded import LoadedRecipe
from .schema_teachers import DISTILLING


def _names(lr: LoadedRecipe, path: tuple, given: list[str], known: list[str],
           what: str) -> Iterator[Problem]:
    for i, name in enumerate(given):
        if name not in known:
            at = (*path, i) if len(path) and lr.where(*path, i) is not None else path
            yield _err(lr, at, f"no {what} '{name}'", expected=one_of(known),
                       hint=did_you_mean(name, known))


def _gradual_plugin(lr: LoadedRecipe, path: tuple) -> Iterator[Problem]:
    plugin = lr.recipe.parallel.plugin
    if plugin != "ddp":
        yield _err(lr, path, f"gradual unfreezing needs the ddp plugin, not {plugin}",
                   hint="its optimizer keeps gradients in its own buffers; use parallel.plugin: "
                   "ddp, or unfreeze: none")


@check
def train_datasets_and_unfreeze(lr: LoadedRecipe) -> Iterator[Problem]:
    t = lr.recipe.train
    if t.datasets is not None:
        yield from _names(lr, ("train", "datasets"), list(t.datasets),
                          list(datasets(lr.recipe)), "dataset")
    if t.unfreeze == "gradual":
        yield from _gradual_plugin(lr, ("train", "unfreeze"))


@check
def stages_fit_the_recipe(lr: LoadedRecipe) -> Iterator[Problem]:
    recipe = lr.recipe
    known_sets = list(datasets(recipe))
    hf = [n for n, e in recipe.encoders.items() if e.type == "hf"]
    seen: set[str] = set()
    for k, stage in enumerate(recipe.stages):
        at = ("stages", k)
        if stage.name in seen:
            yield _err(lr, (*at, "name"), f"stage '{stage.name}' is named twice",
                       hint="each stage's run folder is stages/<k>-<name>: name them apart")
        seen.add(stage.name)
        names = [stage.data] if isinstance(stage.data, str) else list(stage.data or [])
        for j, ds in enumerate(names):
            if ds not in known_sets:
                where = (*at, "data") if isinstance(stage.data, str) else (*at, "data", j)
                yield _err(lr, where, f"dataset '{ds}' is not declared",
                           expected=one_of(known_sets), hint=did_you_mean(ds, known_sets))
        for teacher in stage.objectives or {}:
            if teacher not in recipe.teachers:
                yield _at_key(lr, (*at, "objectives", teacher), f"teacher '{teacher}' is not "
                              "declared", expected=one_of(recipe.teachers) if recipe.teachers
                              else "a teacher declared under teachers:",
                              hint=did_you_mean(teacher, recipe.teachers))
        for enc in stage.freeze:
            cfg = recipe.encoders.get(enc)
            if cfg is None:
                yield _at_key(lr, (*at, "freeze", enc), f"encoder '{enc}' is not declared",
                              expected=one_of(hf) if hf else "an hf encoder",
                              hint=did_you_mean(enc, recipe.encoders))
            elif cfg.type != "hf":
                yield _at_key(lr, (*at, "freeze", enc), f"encoder '{enc}' is a {cfg.type} "
                              "encoder; freezing layers applies to hf encoders")
        method = stage.method if stage.method is not None else recipe.method
        if stage.method is not None and method.type in DISTILLING and not recipe.teachers:
            yield _err(lr, (*at, "method", "type"), f"stage '{stage.name}' distils, but no "
                       "teacher is declared", hint="declare them under `teachers:`")
        if stage.hard is not None and method.type not in DISTILLING:
            own = " (the stage's own)" if stage.method is not None else ""
            yield _err(lr, (*at, "hard"), "a stage's 'hard' weight needs method: distill",
                       found=f"method: {method.type}{own}")
        if stage.unfreeze == "gradual":
            yield from _gradual_plugin(lr, (*at, "unfreeze"))
