"""A run's data: every dataset's examples read by its heads' tasks, tokenised (and cached) by
the tokenizers its heads' encoders use, ready to batch for training and evaluation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..compile.graph import CompiledModel, tokenizer_suffix
from ..data.examples import Splits, load_splits, read_split, selection_key, split_rows
from ..data.token_store import StoredExamples, StoredSplit, default_workers, stream_features
from ..data.tokens import DatasetFeatures, encode_cached
from ..recipe.datasets import datasets
from ..recipe.domains import data_domain_problems, domain_ids
from ..recipe.errors import RecipeError
from ..recipe.loaded import LoadedRecipe


@dataclass
class RunData:
    train: list[DatasetFeatures]
    dev: list[DatasetFeatures]
    splits: dict[str, Splits] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)
    domains: dict[str, int] = field(default_factory=dict)
    """Domain name → the id batches carry, over every dataset of the run."""

    def sizes(self) -> dict[int, int]:
        return {d.index: len(d.examples) for d in self.train}


def dataset_features(compiled: CompiledModel, name: str, index: int, examples, selection: str,
                     max_length: int, use_cache: bool = True,
                     domains: dict[str, int] | None = None) -> DatasetFeatures:
    """Features of one split of one dataset: its first head's task encodes with its encoder's
    tokenizer; the other tokenizers its heads read give aligned copies (one-to-one tasks)."""
    heads = compiled.dataset_heads[name]
    tasks = [compiled.tasks[h] for h in heads]
    main_tk = compiled.tokenizer_for_head(heads[0])
    tok = compiled.tokenizers[main_tk]
    feats = encode_cached(examples, tasks[0], tok, max_length, selection, use_cache, tasks[1:])
    extra = {}
    needed = {compiled.tokenizer_of[r] for h in heads for n in compiled.model.inputs[h]
              for r in compiled.model.roots(n)}
    for tk in sorted(needed - {main_tk}):
        other = compiled.tokenizers[tk]
        extra[tokenizer_suffix(tk, compiled.primary_tokenizer)] = (
            encode_cached(examples, tasks[0], other, max_length, selection, use_cache),
            other.pad_token_id or 0)
    return DatasetFeatures(name, index, feats, tasks, tok.pad_token_id or 0, list(examples),
                           extra, tokenizer_suffix(main_tk, compiled.primary_tokenizer),
                           domains or {})


def streamed_features(loaded: LoadedRecipe, compiled: CompiledModel, name: str, index: int,
                      skipped: Counter) -> tuple[DatasetFeatures, list[str]]:
    """Training features of one dataset from token stores (one per tokenizer its heads read),
    and the domain names the store found; rows are read only when a store is built."""
    heads = compiled.dataset_heads[name]
    tasks = [compiled.tasks[h] for h in heads]
    view = datasets(loaded.recipe)[name]
    max_len = loaded.recipe.data.max_length
    _, path = split_rows(loaded, view, "train", tasks, Counter())
    selection = selection_key(loaded, view, "train", tasks, path)

    def store(tok, others: list) -> StoredSplit:
        rows, _ = split_rows(loaded, view, "train", tasks, skipped)
        return stream_features(rows, tasks[0], tok, max_len, selection, others,
                               default_workers(), skipped)

    main_tk = compiled.tokenizer_for_head(heads[0])
    tok = compiled.tokenizers[main_tk]
    main = store(tok, tasks[1:])
    extra = {}
    needed = {compiled.tokenizer_of[r] for h in heads for n in compiled.model.inputs[h]
              for r in compiled.model.roots(n)}
    for tk in sorted(needed - {main_tk}):
        other = compiled.tokenizers[tk]
        extra[tokenizer_suffix(tk, compiled.primary_tokenizer)] = (
            store(other, []).feats, other.pad_token_id or 0)
    ds = DatasetFeatures(name, index, main.feats, tasks, tok.pad_token_id or 0,
                         StoredExamples(len(main)), extra,  # type: ignore[arg-type]
                         tokenizer_suffix(main_tk, compiled.primary_tokenizer),
                         domain_ids=main.domain_ids)
    return ds, main.domain_names


def _relabel_domains(ds: DatasetFeatures, names: list[str], domains: dict[str, int]) -> None:
    """A store's own domain ids → the run's (one vocabulary over every dataset)."""
    lut = np.asarray([domains[n] for n in names] + [-1], dtype=np.int64)
    ds._domain_ids = lut[np.asarray(ds.domain_ids)]  # -1 (none) picks the last entry


def _check_domains(loaded: LoadedRecipe, found: set[str], dev_found: set[str]) -> None:
    """Before training: a target domain no dev row has, or domains whose per-domain metrics
    would clash, are located recipe errors."""
    problems = data_domain_problems(loaded, found, dev_found)
    if problems:
        raise RecipeError(problems)


def prepare(loaded: LoadedRecipe, compiled: CompiledModel, is_main: bool,
            barrier: Callable[[], None] = lambda: None) -> RunData:
    """Rank 0 reads and tokenises first (filling the cache); the other ranks then read it."""

    def build() -> RunData:
        if loaded.recipe.data.stream:
            return build_streamed()
        data = RunData([], [])
        max_len = loaded.recipe.data.max_length
        for name in compiled.dataset_heads:
            tasks = [compiled.tasks[h] for h in compiled.dataset_heads[name]]
            data.splits[name] = splits = load_splits(loaded, name, tasks)
            data.skipped.update(splits.skipped)
        found = {e.domain for s in data.splits.values() for e in s.train + s.dev
                 if e.domain is not None}
        dev_found = {e.domain for s in data.splits.values() for e in s.dev
                     if e.domain is not None}
        _check_domains(loaded, found, dev_found)
        data.domains = domain_ids(loaded.recipe, found)
        for i, (name, splits) in enumerate(data.splits.items()):
            for part in ("train", "dev"):
                getattr(data, part).append(dataset_features(
                    compiled, name, i, getattr(splits, part), splits.sources[part], max_len,
                    domains=data.domains))
        return data

    def build_streamed() -> RunData:
        """Training splits from token stores; dev splits in memory as usual."""
        data = RunData([], [])
        max_len = loaded.recipe.data.max_length
        found: set[str] = set()
        dev_found: set[str] = set()
        devs, store_names = {}, []
        for i, name in enumerate(compiled.dataset_heads):
            ds, names = streamed_features(loaded, compiled, name, i, data.skipped)
            data.train.append(ds)
            store_names.append(names)
            found.update(names)
            tasks = [compiled.tasks[h] for h in compiled.dataset_heads[name]]
            devs[name] = read_split(loaded, datasets(loaded.recipe)[name], "dev", tasks,
                                    data.skipped)
            dev_found.update(e.domain for e in devs[name][0] if e.domain is not None)
        found |= dev_found
        _check_domains(loaded, found, dev_found)
        data.domains = domain_ids(loaded.recipe, found)
        for ds, names in zip(data.train, store_names, strict=True):
            _relabel_domains(ds, names, data.domains)
        for i, (name, (dev, key)) in enumerate(devs.items()):
            data.dev.append(dataset_features(compiled, name, i, dev, key, max_len,
                                             domains=data.domains))
        return data

    if is_main:
        data = build()
    barrier()
    if not is_main:
        data = build()
    return data
