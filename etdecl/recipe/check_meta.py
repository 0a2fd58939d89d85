"""Checks of the meta-learning methods, wherever they are used: the recipe's `method:` and each
stage's own `method:` (MetaFT: a `meta_teacher` stage, then a `supervised` one), each judged on
the datasets it trains on. Torch-free.

- `meta_teacher` (MetaKD's meta-teacher, MetaFT's meta-learner) weights each example by its
  class prototypes across domains: its first head must classify, every dataset that head reads
  must say each row's domain, and there must be two domains or more.
- `meta_dtl` (MetaDTL) weights each example by its class prototypes across tasks: at least two
  classify heads, each trained by its own datasets, all reading one shared encoder.
- Both read the pooled features inside one forward: no pipeline or tensor parallelism.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .check import _err, check
from .datasets import dataset_heads, datasets, head_datasets
from .errors import Problem
from .loaded import LoadedRecipe

META_METHODS = ("meta_teacher", "meta_dtl")


def methods_in_use(lr: LoadedRecipe) -> Iterator[tuple[Any, tuple, list[str], str]]:
    """(method config, where it is declared, the datasets it trains on, who uses it: `method`
    or `stage 'NAME'`): the recipe's own method, then each stage that sets its own."""
    recipe = lr.recipe
    every = list(datasets(recipe))
    given = recipe.train.datasets
    yield recipe.method, ("method",), list(given) if given else every, "method"
    for k, stage in enumerate(recipe.stages):
        if stage.method is None:
            continue
        if stage.data is None:
            names = every
        else:
            names = [stage.data] if isinstance(stage.data, str) else list(stage.data)
        yield stage.method, ("stages", k, "method"), names, f"stage '{stage.name}'"


@check
def meta_methods_fit_the_recipe(lr: LoadedRecipe) -> Iterator[Problem]:
    seen: set[tuple[str, str]] = set()
    for method, at, names, user in methods_in_use(lr):
        kind = getattr(method, "type", None)
        if kind not in META_METHODS:
            continue
        rules = _meta_teacher if kind == "meta_teacher" else _meta_dtl
        for problem in (*rules(lr, at, names, user), *_one_forward(lr, kind)):
            key = (problem.message, str(problem.loc))
            if key not in seen:  # a rule about a head or the plan is said once
                seen.add(key)
                yield problem


def _meta_teacher(lr: LoadedRecipe, at: tuple, names: list[str],
                  user: str) -> Iterator[Problem]:
    recipe = lr.recipe
    if not recipe.heads:
        return
    head = next(iter(recipe.heads))
    cfg = recipe.heads[head]
    if cfg.type != "classify":
        yield _err(lr, ("heads", head, "type"), f"method meta_teacher builds class prototypes "
                   f"from the first head, but '{head}' is a {cfg.type} head",
                   expected="a classify head first under heads:")
    declared = recipe.data.domains
    if declared is not None and len(declared) < 2:
        yield _err(lr, ("data", "domains"), "method meta_teacher learns across domains, but "
                   f"{len(declared)} is declared", expected="at least two domains")
    views = datasets(recipe)
    read = [ds for ds in names if ds in views and head in dataset_heads(recipe).get(ds, [])]
    for ds in read:
        view = views[ds]
        if view.fields.domain is None and view.domain is None:
            yield _err(lr, (*at, "type"), f"method meta_teacher weighs each row by its "
                       f"domain, but dataset '{ds}' (read by head '{head}') has none",
                       expected="data.fields.domain (a field of the rows) or a dataset "
                       "`domain:`")
    if at == ("method",) or declared is not None or not read:
        return  # the recipe's own method: check_teachers counts its domains
    if any(views[ds].fields.domain is not None for ds in read):
        return  # the rows name their domains
    fixed = {views[ds].domain for ds in read if views[ds].domain is not None}
    if len(fixed) == 1:
        yield _err(lr, (*at, "type"), f"method meta_teacher learns across domains, but "
                   f"{user} trains on rows of domain '{next(iter(fixed))}' only",
                   expected="at least two domains (data.fields.domain, or datasets of "
                   "different `domain:`)")


def _meta_dtl(lr: LoadedRecipe, at: tuple, names: list[str], user: str) -> Iterator[Problem]:
    recipe = lr.recipe
    tasks = [h for h in recipe.heads if set(head_datasets(recipe, h)) & set(names)]
    if len(tasks) < 2:
        yield _err(lr, (*at, "type"), "method meta_dtl learns across tasks, but "
                   f"{user} trains {len(tasks)} head{'s' if len(tasks) != 1 else ''}"
                   + (f" ('{tasks[0]}')" if tasks else ""),
                   expected="at least two classify heads, each with its own dataset "
                   "(heads.*.data)")
    for h in tasks:
        cfg = recipe.heads[h]
        if cfg.type != "classify":
            yield _err(lr, ("heads", h, "type"), f"method meta_dtl builds class prototypes "
                       f"of every task, but head '{h}' is a {cfg.type} head",
                       expected="classify heads (a text pair: data.fields.text_pair)")
    shared = {h: recipe.heads[h].inputs() for h in tasks}
    if tasks:
        first = tasks[0]
        for h in tasks:
            if len(shared[h]) != 1 or shared[h] != shared[first]:
                yield _err(lr, ("heads", h, "input"), "method meta_dtl compares the tasks in "
                           f"one shared encoder's features, but head '{h}' reads "
                           f"{', '.join(shared[h])} and head '{first}' reads "
                           f"{', '.join(shared[first])}",
                           expected=f"input: {shared[first][0]} (one node for every head)")
    by_set = dataset_heads(recipe)
    for ds in names:
        heads = [h for h in by_set.get(ds, []) if h in tasks]
        if len(heads) > 1:
            yield _err(lr, ("heads", heads[1], "data"), f"method meta_dtl tells the tasks "
                       f"apart by dataset, but dataset '{ds}' trains heads "
                       f"{', '.join(repr(h) for h in heads)}",
                       expected="one head per dataset")


def _one_forward(lr: LoadedRecipe, kind: str) -> Iterator[Problem]:
    par = lr.recipe.parallel
    if par.pp > 1 or par.tp > 1:
        key = "pp" if par.pp > 1 else "tp"
        yield _err(lr, ("parallel", key), f"method {kind} reads the pooled features inside "
                   "one forward; pipeline and tensor plans split it",
                   found=f"parallel.{key}: {getattr(par, key)}", hint="use plugin ddp or zero")
