"""Checks of the `selectors:` section (torch-free): each selector's source dataset, source
domains and target domain exist, its rows carry domains, its head classifies, and the plan keeps
a batch's rows in one forward (no pipeline or tensor parallelism)."""

from __future__ import annotations

from collections.abc import Iterator

from .check import _at_key, _err, check
from .datasets import DatasetView, dataset_heads, datasets
from .errors import Problem, did_you_mean, one_of
from .loaded import LoadedRecipe
from .schema_teachers import DISTILLING


def default_source(names: list[str]) -> str | None:
    """The source dataset a selector reads when it names none: the only dataset, or the one
    named `source` (the runtime uses the same rule)."""
    if len(names) == 1:
        return names[0]
    return "source" if "source" in names else None


def known_domains(views: dict[str, DatasetView], declared: list[str] | None) -> set[str] | None:
    """Every domain the recipe's rows can have, when that is known without reading data:
    `data.domains`, or each dataset's fixed `domain:` or `where:` filter on its domain field."""
    if declared is not None:
        return set(declared)
    found: set[str] = set()
    for view in views.values():
        if view.domain is not None and not view.fields.domain:
            found.add(view.domain)
        elif view.fields.domain and view.fields.domain in view.where:
            found |= {str(v) for v in view.where[view.fields.domain]}
        else:
            return None
    return found


@check
def selectors_name_what_exists(lr: LoadedRecipe) -> Iterator[Problem]:
    recipe = lr.recipe
    if not recipe.selectors:
        return
    views = datasets(recipe)
    names = list(views)
    heads_of = dataset_heads(recipe)
    domains = known_domains(views, recipe.data.domains)
    judged: dict[str, str] = {}
    for name, cfg in recipe.selectors.items():
        at = ("selectors", name)
        source = cfg.source or default_source(names)
        if cfg.source is not None and cfg.source not in views:
            yield _err(lr, (*at, "source"), f"selector '{name}' reads dataset '{cfg.source}', "
                       "which the recipe does not have", expected=one_of(names),
                       hint=did_you_mean(cfg.source, names))
            continue
        if source is None:
            yield _at_key(lr, at, f"selector '{name}' does not say which dataset it chooses "
                          "from", expected=f"source: {one_of(names)}")
            continue
        if source in judged:
            yield _err(lr, (*at, "source") if cfg.source else at,
                       f"selectors '{judged[source]}' and '{name}' both choose from dataset "
                       f"'{source}'", hint="one selector per source dataset")
        judged[source] = name
        view = views[source]
        if not view.fields.domain and view.domain is None:
            yield _err(lr, (*at, "source") if cfg.source else at,
                       f"selector '{name}' tells source from target rows by their domain, but "
                       f"dataset '{source}' has none", expected="data.fields.domain (a field "
                       "naming each row's domain) or a dataset `domain:`")
        heads = heads_of.get(source, [])
        if heads and recipe.heads[heads[0]].type != "classify":
            yield _err(lr, ("heads", heads[0], "type"), f"selector '{name}' learns from the "
                       f"class predictions of head '{heads[0]}' (it reads dataset '{source}'), "
                       f"but it is a {recipe.heads[heads[0]].type} head",
                       expected="a classify head on the source dataset")
        target = cfg.target_domain or recipe.data.target_domain
        if target is None:
            yield _at_key(lr, at, f"selector '{name}' needs the domain it selects for",
                          expected="target_domain: NAME here, or data.target_domain")
        elif domains is not None and target not in domains:
            where = (*at, "target_domain") if cfg.target_domain else ("data", "target_domain")
            yield _err(lr, where, f"selector '{name}' selects for domain '{target}', which no "
                       "row of the recipe can have", expected=one_of(domains),
                       hint=did_you_mean(target, domains))
        for i, domain in enumerate(cfg.domains or []):
            if domains is not None and domain not in domains:
                yield _err(lr, (*at, "domains", i), f"selector '{name}' chooses among domain "
                           f"'{domain}', which no row of the recipe can have",
                           expected=one_of(domains), hint=did_you_mean(domain, domains))
            elif domain == target:
                yield _err(lr, (*at, "domains", i), f"domain '{domain}' is the target, so "
                           f"selector '{name}' cannot choose among its rows",
                           hint="list source domains only")


@check
def selectors_fit_the_plan(lr: LoadedRecipe) -> Iterator[Problem]:
    recipe = lr.recipe
    if not recipe.selectors:
        return
    par = recipe.parallel
    if par.pp > 1 or par.tp > 1:
        key = "pp" if par.pp > 1 else "tp"
        yield _err(lr, ("parallel", key), "instance selectors read each row's features and "
                   "loss inside one forward; pipeline and tensor plans split it",
                   found=f"parallel.{key}: {getattr(par, key)}", hint="use plugin ddp or zero")
    first = next(iter(recipe.selectors))
    if recipe.method.type in DISTILLING:
        yield _err(lr, ("method", "type"), "instance selectors weigh the task loss's rows, but "
                   "distillation's teacher objectives would still train on the rows they drop",
                   hint="select with method: supervised (or meta_teacher)")
    rl = [n for n, c in recipe.selectors.items() if c.type != "bayes"]
    if rl and not recipe.train.eval_every:
        yield Problem(f"selector '{rl[0]}' learns once per episode, and episodes end at "
                      "evaluations: without train.eval_every only at epoch ends, so the policy "
                      "hardly learns while it selects", loc=lr.where("train"),
                      path="train.eval_every", severity="warning",
                      hint="set train.eval_every to a few dozen steps or less")
    if recipe.stages:
        yield _at_key(lr, ("selectors", first), "selectors do not run in staged training yet",
                      hint="train the selection in its own recipe; a later one can "
                      "`train.init_from` it")
