"""Staged training, its `train:` fields and student extraction, checked without torch: an hf
encoder's `layers` lie within its model's depth; `train.datasets` and every
stage's `data` name datasets, a stage's objectives name teachers, its `freeze` names `hf`
encoders, `hard` needs `method: distill`, and gradual unfreezing needs the `ddp` plugin (the
ZeRO, Gemini and hybrid optimizers keep their own gradient buffers, which a frozen layer's
dropped gradient would not reach)."""

from __future__ import annotations

from collections.abc import Iterator

from .check import _err, check
from .datasets import datasets
from .errors import Problem, did_you_mean, one_of
from .loaded import LoadedRecipe
from .modelinfo import encoder_shape


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
            yield _err(lr, (*at, "name"), f"two stages are named '{stage.name}'",
                       hint="each stage's folder is stages/<index>-<name>; names must differ")
        seen.add(stage.name)
        if stage.data is not None:
            names = [stage.data] if isinstance(stage.data, str) else list(stage.data)
            where = (*at, "data")
            if isinstance(stage.data, str):
                if stage.data not in known_sets:
                    yield _err(lr, where, f"no dataset '{stage.data}'",
                               expected=one_of(known_sets),
                               hint=did_you_mean(stage.data, known_sets))
            else:
                yield from _names(lr, where, names, known_sets, "dataset")
        for teacher in stage.objectives or {}:
            if teacher not in recipe.teachers:
                yield _err(lr, (*at, "objectives", teacher), f"no teacher '{teacher}'",
                           expected=one_of(list(recipe.teachers)) if recipe.teachers
                           else "a teacher declared under teachers:")
        if stage.hard is not None and recipe.method.type != "distill":
            yield _err(lr, (*at, "hard"), "a stage's 'hard' weight needs method: distill",
                       found=f"method: {recipe.method.type}")
        for enc in stage.freeze:
            if enc not in hf:
                yield _err(lr, (*at, "freeze", enc), f"no hf encoder '{enc}'",
                           expected=one_of(hf) if hf else "an hf encoder",
                           hint=did_you_mean(enc, hf))
        if stage.unfreeze == "gradual":
            yield from _gradual_plugin(lr, (*at, "unfreeze"))


@check
def extracted_layers_exist(lr: LoadedRecipe) -> Iterator[Problem]:
    """`layers: [i, ...]` of a `model` or `config` encoder: each 0 <= i < its depth."""
    for name, enc in lr.recipe.encoders.items():
        if enc.type != "hf" or enc.layers is None or enc.from_teacher is not None:
            continue
        key = "model" if enc.model is not None else "config"
        shape = encoder_shape(enc.model_copy(update={"layers": None}),
                              lr.origin_dir("encoders", name, key))
        if shape is None:
            continue
        for i, layer in enumerate(enc.layers):
            if layer >= shape.layers:
                yield _err(lr, ("encoders", name, "layers", i),
                           f"layer {layer} is out of range: the model has {shape.layers} "
                           "transformer layers", expected=f"0 to {shape.layers - 1}",
                           found=str(layer))
