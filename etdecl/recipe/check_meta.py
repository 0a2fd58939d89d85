"""Checks of `method: meta_teacher` (MetaKD's meta-teacher): it weights each example by its
class prototypes across domains, so its first head must classify, every dataset that head
reads must say each row's domain, and the plan must keep the whole model in one process's
forward (no pipeline or tensor parallelism). Torch-free."""

from __future__ import annotations

from collections.abc import Iterator

from .check import _err, check
from .datasets import dataset_heads, datasets
from .errors import Problem
from .loaded import LoadedRecipe


@check
def meta_teacher_needs_classes_and_domains(lr: LoadedRecipe) -> Iterator[Problem]:
    recipe = lr.recipe
    if getattr(recipe.method, "type", None) != "meta_teacher" or not recipe.heads:
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
    for ds, heads in dataset_heads(recipe).items():
        view = views[ds]
        if head in heads and view.fields.domain is None and view.domain is None:
            yield _err(lr, ("method", "type"), f"method meta_teacher weighs each row by its "
                       f"domain, but dataset '{ds}' (read by head '{head}') has none",
                       expected="data.fields.domain (a field of the rows) or a dataset "
                       "`domain:`")
    par = recipe.parallel
    if par.pp > 1 or par.tp > 1:
        key = "pp" if par.pp > 1 else "tp"
        yield _err(lr, ("parallel", key), "method meta_teacher reads the pooled features "
                   "inside one forward; pipeline and tensor plans split it",
                   found=f"parallel.{key}: {getattr(par, key)}",
                   hint="use plugin ddp or zero")
