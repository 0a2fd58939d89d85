"""Rows → examples: each dataset's rows read by the tasks of the heads it trains, after the
field mapping, `where` filters, row limits and the dev split.

Bad rows stop the run with their file and line, or, under `on_bad_row: skip`, are counted and
reported at the end of data loading.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..datafiles.readers import DataError, Row, iter_rows
from ..datafiles.values import as_text as _norm
from ..recipe.datasets import DatasetView, SourceError, dataset_heads, datasets, locate
from ..recipe.loaded import LoadedRecipe
from ..tasks.base import Example, Task

__all__ = ["Example", "Splits", "file_sha256", "load_splits", "read_split", "selection_key",
           "split_rows", "tasks_of"]


@dataclass
class Splits:
    train: list[Example]
    dev: list[Example]
    skipped: Counter = field(default_factory=Counter)
    """Bad rows skipped under `on_bad_row: skip`, by reason."""
    sources: dict[str, str] = field(default_factory=dict)
    """Content hash of each split's selection (data file hash + selection settings)."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tasks_of(loaded: LoadedRecipe, dataset: str) -> list[Task]:
    """The tasks of the heads a dataset trains, built from the recipe alone (no model)."""
    from ..tasks.registry import TASKS

    view = datasets(loaded.recipe)[dataset]
    return [TASKS[loaded.recipe.heads[h].type](h, loaded.recipe.heads[h], view.fields)
            for h in dataset_heads(loaded.recipe)[dataset]]


def _keep(row: Row, where: dict[str, set[str]]) -> bool:
    for key, allowed in where.items():
        value = row.values.get(key)
        if value is None:
            raise DataError(row.file, row.line, f"missing field '{key}' (used by data.where)",
                            f"missing field '{key}'")
        if _norm(value) not in allowed:
            return False
    return True




def _domain(row: Row, view: DatasetView, required: bool = True,
            allowed: Sequence[str] | None = None) -> str | None:
    name = view.fields.domain
    if not name or (name not in row.values and not required):  # predicting: optional
        return view.domain
    if name not in row.values:
        raise DataError(row.file, row.line, f"missing field '{name}' (domain)",
                        f"missing field '{name}'")
    domain = _norm(row.values[name])
    if allowed is not None and domain not in allowed:
        raise DataError(row.file, row.line, f"domain '{domain}' (field '{name}') is not one of "
                        f"data.domains ({', '.join(allowed)})", "domain not in data.domains")
    return domain


def row_example(row: Row, view: DatasetView, tasks: Sequence[Task], index: int,
                with_targets: bool = True, domains: Sequence[str] | None = None) -> Example:
    """One row as the tasks read it; with `domains` (the recipe's `data.domains`), a row of
    another domain is a DataError naming its line."""
    inputs: dict = {}
    targets: dict = {}
    for task in tasks:
        inputs.update(task.read_inputs(row.values, row.file, row.line))
        if with_targets:
            targets[task.name] = task.read_target(row.values, row.file, row.line)
    return Example(view.name, index, inputs, targets, _domain(row, view, with_targets, domains),
                   row.file, row.line)


def split_rows(loaded: LoadedRecipe, view: DatasetView, split: str, tasks: Sequence[Task],
               skipped: Counter) -> tuple[Iterator[Example], Path]:
    """The split's examples one at a time, in file order (before `limit`), and its file.

    Under `skip`, rows the reader can read past (bad encoding or JSON, a wrong column count,
    a truncated last line) are counted and reading goes on; a file that cannot be read at
    all (empty, bad header) is an error under either policy: it has no row to skip.
    """
    source = getattr(view, split)
    try:
        path, shown = locate(loaded, view, split)
    except SourceError as err:
        raise DataError(err.shown, 0, err.message) from None
    where = {k: {_norm(v) for v in vs} for k, vs in view.where.items()}
    skip = loaded.recipe.data.on_bad_row == "skip"
    domains = loaded.recipe.data.domains

    def count(err: DataError) -> None:
        skipped[f"{shown}: {err.kind}"] += 1

    def examples() -> Iterator[Example]:
        n = 0
        for row in iter_rows(path, shown, source.format, count if skip else None):
            try:
                if not _keep(row, where):
                    continue
                example = row_example(row, view, tasks, n, domains=domains)
            except DataError as err:
                if not skip:
                    raise
                count(err)
                continue
            yield example
            n += 1
        if not n:
            raise DataError(shown, 0, "no usable rows (check data.where and the field mapping)")

    return examples(), path


def selection_key(loaded: LoadedRecipe, view: DatasetView, split: str, tasks: Sequence[Task],
                  path: Path) -> str:
    """Hash identifying exactly this selection of this file (the token caches' key)."""
    data = loaded.recipe.data
    selection = json.dumps(
        {
            "file": file_sha256(path),
            "dataset": view.name,
            "split": split,
            "heads": {t.name: loaded.recipe.heads[t.name].model_dump(mode="json")
                      for t in tasks},
            "fields": view.fields.model_dump(),
            "where": view.where,
            "domain": view.domain,
            # rows of undeclared domains are skipped under on_bad_row: skip
            **({"domains": data.domains} if data.domains is not None else {}),
            "limit": getattr(view, split).limit,
            "seed": data.split_seed,
            "dev_fraction": data.dev_fraction if view.dev is None else None,
        },
        sort_keys=True,
    )
    return hashlib.sha256(selection.encode()).hexdigest()


def read_split(loaded: LoadedRecipe, view: DatasetView, split: str, tasks: Sequence[Task],
               skipped: Counter) -> tuple[list[Example], str]:
    """Examples of one split and a hash identifying exactly this selection of this file."""
    rows, path = split_rows(loaded, view, split, tasks, skipped)
    out = list(rows)
    limit = getattr(view, split).limit
    if limit is not None and limit < len(out):
        keep = sorted(random.Random(loaded.recipe.data.split_seed).sample(range(len(out)), limit))
        out = [out[i] for i in keep]
    out = [_reindex(e, i) for i, e in enumerate(out)]
    return out, selection_key(loaded, view, split, tasks, path)


def _reindex(e: Example, index: int) -> Example:
    return e if e.index == index else Example(e.dataset, index, e.inputs, e.targets, e.domain,
                                              e.file, e.line)


def load_splits(loaded: LoadedRecipe, dataset: str | None = None,
                tasks: Sequence[Task] | None = None) -> Splits:
    """Train and dev examples of one dataset (default: the recipe's only or first one);
    without a dev source, a seeded share of train is held out."""
    data = loaded.recipe.data
    views = datasets(loaded.recipe)
    view = views[dataset] if dataset else next(iter(views.values()))
    tasks = list(tasks) if tasks is not None else tasks_of(loaded, view.name)
    skipped: Counter = Counter()
    train, train_key = read_split(loaded, view, "train", tasks, skipped)
    if view.dev is not None:
        dev, dev_key = read_split(loaded, view, "dev", tasks, skipped)
    else:
        order = list(range(len(train)))
        random.Random(data.split_seed).shuffle(order)
        n_dev = max(1, round(len(train) * data.dev_fraction))
        dev_idx, train_idx = sorted(order[:n_dev]), sorted(order[n_dev:])
        dev = [_reindex(train[i], k) for k, i in enumerate(dev_idx)]
        train = [_reindex(train[i], k) for k, i in enumerate(train_idx)]
        dev_key = hashlib.sha256((train_key + ":dev").encode()).hexdigest()
        train_key = hashlib.sha256((train_key + ":train").encode()).hexdigest()
    return Splits(train, dev, skipped, {"train": train_key, "dev": dev_key})
