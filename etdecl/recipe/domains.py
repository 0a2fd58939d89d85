"""The recipe's domains: the id each domain name gets in batches, the source/target setting's
selection metric, and the problems only the data can reveal (checked again once every row is
read, before training). Torch-free."""

from __future__ import annotations

from collections.abc import Iterable

from .errors import Problem
from .loaded import LoadedRecipe
from .schema import Recipe


def domain_ids(recipe: Recipe, found: Iterable[str]) -> dict[str, int]:
    """Domain name → the id batches carry: `data.domains` order when declared (so towers and
    a finished run's predictions agree on it), else the names found in the data, sorted."""
    names = recipe.data.domains if recipe.data.domains is not None else sorted(set(found))
    return {d: i for i, d in enumerate(names)}


def with_target(recipe: Recipe, metric: str) -> str:
    """`HEAD.METRIC` scored on `data.target_domain`'s rows when the recipe has one and the
    metric names no domain of its own."""
    target = recipe.data.target_domain
    if target is None or metric.endswith("]"):
        return metric
    return f"{metric}[{target}]"


def tag_entity_types(recipe: Recipe) -> dict[str, set[str]]:
    """Entity types of each `tag` head (`PER` of `B-PER`): their per-type scores are
    `f1[PER]`, the same form as a domain's `f1[books]`."""
    from .tag_schemes import split_tag

    out: dict[str, set[str]] = {}
    for name, head in recipe.heads.items():
        if head.type != "tag":
            continue
        kinds = set()
        for label in head.labels:
            try:
                kinds.add(split_tag(label)[1])
            except ValueError:
                continue
        out[name] = kinds - {None}
    return out


def domain_clashes(lr: LoadedRecipe, names: Iterable[str], at: tuple) -> list[Problem]:
    """A domain named like a tag head's entity type would make `f1[NAME]` mean two things."""
    problems = []
    for head, kinds in tag_entity_types(lr.recipe).items():
        for name in sorted(set(names) & kinds):
            problems.append(Problem(
                f"domain '{name}' has the name of an entity type of tag head '{head}', so its "
                f"per-domain score f1[{name}] would clash with the type's",
                loc=lr.where(*at), path=".".join(at),
                hint="rename the domain in the data (and data.domains)"))
    return problems


def data_domain_problems(lr: LoadedRecipe, found: set[str],
                         dev_found: set[str]) -> list[Problem]:
    """What the rows read for training say about the recipe's domains: a target domain no dev
    row has, and domains clashing with entity types (when `data.domains` did not name them)."""
    data = lr.recipe.data
    problems = []
    target = data.target_domain
    if target is not None and target not in dev_found:
        seen = ", ".join(f"'{d}'" for d in sorted(dev_found)) or "no domain"
        problems.append(Problem(
            f"no dev row has the target domain '{target}': its dev metric cannot pick the "
            "checkpoint", loc=lr.where("data", "target_domain"), path="data.target_domain",
            expected="a domain of the dev rows", found=seen))
    if data.domains is None:
        at = ("data", "fields", "domain") if data.fields.domain else ("data",)
        problems += domain_clashes(lr, found, at)
    return problems
