"""Checks of the recipe's domains: the declared vocabulary (`data.domains`), the domain each
dataset or row names, domain-balanced sampling, the target domain and per-domain metrics."""

from __future__ import annotations

from collections.abc import Iterator

from ..datafiles.values import as_text as _norm
from .check import _err, check, data_check
from .datasets import DatasetView, datasets
from .domains import domain_clashes
from .errors import Problem, did_you_mean, one_of
from .loaded import LoadedRecipe


def _listed(names: list[str]) -> str:
    return one_of(names) if names else "a declared domain"


def _domain_at(lr: LoadedRecipe, view: DatasetView) -> tuple:
    """Where a dataset's fixed `domain:` is written: its own key, or the `data:` level's."""
    own = (*view.path, "domain")
    return own if lr.where(*own) is not None else ("data", "domain")


def _can_have_domains(view: DatasetView) -> bool:
    return bool(view.fields.domain) or view.domain is not None


@check
def domains_are_declared_once(lr: LoadedRecipe) -> Iterator[Problem]:
    """`data.domains` names each domain once (ids follow its order), none like an entity type
    of a tag head (its per-domain `f1[NAME]` would be ambiguous), and some dataset has them."""
    names = lr.recipe.data.domains
    if names is None:
        return
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield _err(lr, ("data", "domains", i), f"domain '{name}' is listed twice",
                       hint="each domain once, in id order")
        seen.add(name)
    yield from domain_clashes(lr, names, ("data", "domains"))
    if not any(_can_have_domains(v) for v in datasets(lr.recipe).values()):
        yield _err(lr, ("data", "domains"), "domains are declared but no dataset says which "
                   "rows are of which", expected="data.fields.domain (a field naming each "
                   "row's domain) or a dataset's domain:")


@check
def dataset_domains_are_declared(lr: LoadedRecipe) -> Iterator[Problem]:
    """A dataset's fixed `domain:` is one of `data.domains` when the recipe declares them."""
    names = lr.recipe.data.domains
    if names is None:
        return
    reported: set[tuple] = set()
    for view in datasets(lr.recipe).values():
        at = _domain_at(lr, view)
        if view.domain is None or view.domain in names or at in reported:
            continue
        reported.add(at)
        yield _err(lr, at, f"domain '{view.domain}' is not one of data.domains",
                   expected=_listed(names), hint=did_you_mean(view.domain, names))


@check
def target_domain_is_in_the_data(lr: LoadedRecipe) -> Iterator[Problem]:
    """`data.target_domain` is a declared domain, and some dataset's dev rows can have it."""
    data = lr.recipe.data
    target = data.target_domain
    if target is None:
        return
    at = ("data", "target_domain")
    if data.domains is not None and target not in data.domains:
        yield _err(lr, at, f"target domain '{target}' is not one of data.domains",
                   expected=_listed(data.domains), hint=did_you_mean(target, data.domains))
        return
    views = list(datasets(lr.recipe).values())
    if not any(_can_have_domains(v) for v in views):
        yield _err(lr, at, "no dataset has domains, so no dev row can be of the target domain",
                   expected="data.fields.domain (a field naming each row's domain) or a "
                   "dataset's domain:")
        return
    fixed = [v.domain for v in views if not v.fields.domain]
    if len(fixed) == len(views) and target not in fixed:
        yield _err(lr, at, f"no dataset is of domain '{target}', so no dev row has it",
                   expected=_listed(sorted({d for d in fixed if d is not None})),
                   hint=did_you_mean(target, [d for d in fixed if d is not None]))


@check
def balanced_sampling_has_domains(lr: LoadedRecipe) -> Iterator[Problem]:
    """`train.sampling: domain_balanced` needs rows with domains; with one domain per dataset
    it balances nothing (each dataset is drawn on its own: that is `train.mixing`)."""
    if lr.recipe.train.sampling != "domain_balanced":
        return
    at = ("train", "sampling")
    views = list(datasets(lr.recipe).values())
    if not any(_can_have_domains(v) for v in views):
        yield _err(lr, at, "domain-balanced sampling needs rows with domains, and no dataset "
                   "has any", expected="data.fields.domain (a field naming each row's domain) "
                   "or a dataset's domain:", hint="or use sampling: random")
    elif not any(v.fields.domain for v in views):
        yield Problem("every dataset holds one domain, so balancing within a dataset changes "
                      "nothing", loc=lr.where(*at), path="train.sampling", severity="warning",
                      hint="to draw datasets evenly, set train.mixing: round_robin")


@check
def metric_domain_is_declared(lr: LoadedRecipe) -> Iterator[Problem]:
    """A domain in `train.metric` (`sentiment.accuracy[books]`) is one of `data.domains`."""
    metric = lr.recipe.train.metric
    names = lr.recipe.data.domains
    if metric is None or names is None or not metric.endswith("]"):
        return
    domain = metric[metric.index("[") + 1 : -1]
    if domain not in names:
        yield _err(lr, ("train", "metric"), f"domain '{domain}' is not one of data.domains",
                   expected=_listed(names), hint=did_you_mean(domain, names))


@data_check
def row_domains_are_declared(lr: LoadedRecipe) -> Iterator[Problem]:
    """The domains of the rows `validate` peeks at are among `data.domains`."""
    from .check_datasets import readable_splits

    names = lr.recipe.data.domains
    if names is None:
        return
    skip = lr.recipe.data.on_bad_row == "skip"
    tail = " (under on_bad_row: skip, such rows are skipped)" if skip else ""
    for view in datasets(lr.recipe).values():
        field = view.fields.domain
        if not field:
            continue
        for shown, rows in readable_splits(lr, view):
            for row in rows:
                if field not in row.values or _norm(row.values[field]) in names:
                    continue
                found = _norm(row.values[field])
                yield Problem(  # worded as training would say it, where the rows are
                    f"{shown}:{row.line}: data error: domain '{found}' (field '{field}') is "
                    "not one of data.domains" + tail, loc=lr.where("data", "domains"),
                    path="data.domains", expected=_listed(names), found=f"'{found}'",
                    hint=did_you_mean(found, names),
                    severity="warning" if skip else "error")
                break
