"""The recipe's `data:` section: sources, field roles, filters, and several named datasets for
multi-task and multi-domain recipes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .section import Name, Section


class DataSource(Section):
    """Where one split's rows come from: a file on disk, or a file shipped inside a package."""

    path: str | None = None
    """File path (JSONL, CSV or TSV, optionally .gz/.bz2/.xz). Relative paths resolve against the
    recipe file that sets them; `${VAR}` and `${VAR:-default}` expand environment variables."""
    package: str | None = None
    """An installed Python package that ships the data file (read without importing it)."""
    resource: str | None = None
    """Path of the data file inside `package`, e.g. `data/corpus.csv.bz2`."""
    format: Literal["auto", "jsonl", "csv", "tsv"] = "auto"
    """File format; `auto` decides from the file name."""
    limit: Annotated[int, Field(ge=1)] | None = None
    """Keep a seeded random sample of this many rows (after `where`), in file order.
    For quick runs."""


class FieldMap(Section):
    """Which column or JSON key of the data feeds which role."""

    text: str = "text"
    """Field holding the (first) text."""
    text_pair: str | None = None
    """Field holding the second text of a pair (NLI, paraphrase); omit for single texts."""
    label: str = "label"
    """Field holding the label name, one of the head's `labels` (`classify`, `match`)."""
    domain: str | None = None
    """Field naming each row's domain, for per-domain metrics and domain-aware towers."""
    tokens: str = "tokens"
    """Field holding a row's words as a list (`tag` heads)."""
    tags: str = "tags"
    """Field holding one tag per word (`tag` heads)."""
    question: str = "question"
    """Field holding the question (`span` heads)."""
    context: str = "context"
    """Field holding the passage the answer is a span of (`span` heads)."""
    answers: str = "answers"
    """Field holding SQuAD-style answers, `{text: [...], answer_start: [...]}` (`span` heads)."""




Where = dict[str, list[str | int | float | bool]]


class Dataset(Section):
    """One named dataset of a multi-dataset recipe; unset keys take the `data:` level's value."""

    train: DataSource
    """Training rows."""
    dev: DataSource | None = None
    """Evaluation rows; when omitted, `dev_fraction` of the training rows are held out."""
    fields: FieldMap | None = None
    """Field mapping of this dataset (default: `data.fields`)."""
    where: Where | None = None
    """Row filter of this dataset (default: `data.where`)."""
    domain: str | None = None
    """Domain of every row of this dataset, when the rows carry no domain field."""


class DataConfig(Section):
    """Training and evaluation data, the fields they use, and how texts are tokenised.

    One dataset: `train` (and `dev`, `fields`, `where`) here. Several (multi-task, or source and
    target domains): name them under `sets`, and say which heads read which with `heads.*.data`.
    """

    train: DataSource | None = None
    """Training rows (one-dataset recipes; with `sets`, each set has its own)."""
    dev: DataSource | None = None
    """Evaluation rows. When omitted, `dev_fraction` of the training rows are held out (seeded)."""
    dev_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1
    """Share of training rows held out as dev when `dev` is omitted."""
    split_seed: int = 13
    """Seed of the train/dev split and of `limit` sampling."""
    fields: FieldMap = FieldMap()
    """Field mapping, shared by train and dev (and the default of every set)."""
    where: Where = {}
    """Keep only rows whose field takes one of the listed values,
    e.g. `{category: [fresh, rotten]}`."""
    domain: str | None = None
    """Domain of every row, when the rows carry no domain field."""
    domains: list[Name] | None = None
    """Domains of the rows, in id order: domain-aware towers build one part per domain from it; a
    row of another domain is an error naming its line."""
    max_length: Annotated[int, Field(ge=8, le=8192)] = 128
    """Tokens per text (or pair, or question + context window) after truncation."""
    on_bad_row: Literal["error", "skip"] = "error"
    """`error` stops at the first bad row naming its file and line;
    `skip` counts and reports them."""
    sets: dict[Name, Dataset] = {}
    """Named datasets (multi-task or multi-domain recipes), instead of `train` here."""
    stream: bool = False
    """Tokenise training rows in a background pool into a memory-mapped token store on disk and
    train from it, so memory does not grow with the data (for data larger than memory). Needs
    a `dev` source and no `train.limit`: both would need every row in memory."""
