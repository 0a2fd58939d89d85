"""Rows → labelled examples: field mapping, `where` filters, row limits and the dev split.

Bad rows stop the run with their file and line, or, under `on_bad_row: skip`, are counted and
reported at the end of data loading.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..recipe.validate import LoadedRecipe
from .readers import DataError, Row, iter_rows
from .sources import locate


@dataclass(frozen=True)
class Example:
    text: str
    text_pair: str | None
    label: int
    domain: str | None
    file: str
    line: int


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


def _text(row: Row, name: str, role: str) -> str:
    if name not in row.values:
        raise DataError(row.file, row.line, f"missing field '{name}' ({role})",
                        f"missing field '{name}'")
    value = row.values[name]
    if not isinstance(value, str):
        raise DataError(
            row.file,
            row.line,
            f"field '{name}' ({role}) must be a string, found {type(value).__name__}",
            f"field '{name}' is not a string",
        )
    if not value.strip():
        raise DataError(row.file, row.line, f"field '{name}' ({role}) is empty",
                        f"field '{name}' is empty")
    if bad := _SURROGATE.search(value):  # JSON may escape one ("\ud800"); no tokenizer takes it
        raise DataError(row.file, row.line, f"field '{name}' ({role}) holds a lone surrogate "
                        f"(\\u{ord(bad.group()):04x}), which is not text",
                        f"field '{name}' is not text")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def row_to_example(row: Row, loaded: LoadedRecipe, label_index: dict[str, int]) -> Example:
    f = loaded.recipe.data.fields
    text = _text(row, f.text, "text")
    pair = _text(row, f.text_pair, "text_pair") if f.text_pair else None
    if f.label not in row.values:
        raise DataError(row.file, row.line, f"missing field '{f.label}' (label)",
                        f"missing field '{f.label}'")
    raw = row.values[f.label]
    label = str(raw).lower() if isinstance(raw, bool) else str(raw)
    if label not in label_index:
        known = ", ".join(label_index)
        raise DataError(
            row.file, row.line, f"label '{label}' is not one of the head's labels ({known})",
            "label not among the head's labels",
        )
    domain = None
    if f.domain:
        if f.domain not in row.values:
            raise DataError(row.file, row.line, f"missing field '{f.domain}' (domain)",
                            f"missing field '{f.domain}'")
        domain = str(row.values[f.domain])
    return Example(text, pair, label_index[label], domain, row.file, row.line)


def _keep(row: Row, where: dict[str, set[str]]) -> bool:
    for key, allowed in where.items():
        value = row.values.get(key)
        if value is None:
            raise DataError(row.file, row.line, f"missing field '{key}' (used by data.where)",
                            f"missing field '{key}'")
        if str(value) not in allowed:
            return False
    return True


def _norm(v: object) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def read_split(
    loaded: LoadedRecipe, split: str, labels: list[str], skipped: Counter
) -> tuple[list[Example], str]:
    """Examples of one split and a hash identifying exactly this selection of this file."""
    data = loaded.recipe.data
    source = getattr(data, split)
    path, shown = locate(loaded, split)
    label_index = {name: i for i, name in enumerate(labels)}
    where = {k: {_norm(v) for v in vs} for k, vs in data.where.items()}
    out: list[Example] = []
    skip = data.on_bad_row == "skip"

    def count(err: DataError) -> None:
        skipped[f"{shown}: {err.kind}"] += 1

    # Under `skip`, rows the reader can read past (bad encoding or JSON, a wrong column count,
    # a truncated last line) are counted and reading goes on; a file that cannot be read at
    # all (empty, bad header) is an error under either policy: it has no row to skip.
    for row in iter_rows(path, shown, source.format, count if skip else None):
        try:
            if not _keep(row, where):
                continue
            out.append(row_to_example(row, loaded, label_index))
        except DataError as err:
            if not skip:
                raise
            count(err)
    if not out:
        raise DataError(shown, 0, "no usable rows (check data.where and the field mapping)")
    if source.limit is not None and source.limit < len(out):
        keep = sorted(random.Random(data.split_seed).sample(range(len(out)), source.limit))
        out = [out[i] for i in keep]
    selection = json.dumps(
        {
            "file": file_sha256(path),
            "split": split,
            "labels": labels,
            "fields": data.fields.model_dump(),
            "where": data.model_dump()["where"],
            "limit": source.limit,
            "seed": data.split_seed,
            "dev_fraction": data.dev_fraction if data.dev is None else None,
        },
        sort_keys=True,
    )
    return out, hashlib.sha256(selection.encode()).hexdigest()


def load_splits(loaded: LoadedRecipe, labels: list[str]) -> Splits:
    """Train and dev examples; without a dev source, a seeded share of train is held out."""
    data = loaded.recipe.data
    skipped: Counter = Counter()
    train, train_key = read_split(loaded, "train", labels, skipped)
    if data.dev is not None:
        dev, dev_key = read_split(loaded, "dev", labels, skipped)
    else:
        order = list(range(len(train)))
        random.Random(data.split_seed).shuffle(order)
        n_dev = max(1, round(len(train) * data.dev_fraction))
        dev_idx, train_idx = sorted(order[:n_dev]), sorted(order[n_dev:])
        dev = [train[i] for i in dev_idx]
        train = [train[i] for i in train_idx]
        dev_key = hashlib.sha256((train_key + ":dev").encode()).hexdigest()
        train_key = hashlib.sha256((train_key + ":train").encode()).hexdigest()
    return Splits(train, dev, skipped, {"train": train_key, "dev": dev_key})
