"""A run's data: every dataset's examples read by its heads' tasks, tokenised (and cached) by
the tokenizers its heads' encoders use, ready to batch for training and evaluation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ..compile.graph import CompiledModel, tokenizer_suffix
from ..data.examples import Splits, load_splits
from ..data.tokens import DatasetFeatures, encode_cached
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
    needed = {compiled.tokenizer_of[n] for h in heads for n in compiled.model.inputs[h]}
    for tk in sorted(needed - {main_tk}):
        other = compiled.tokenizers[tk]
        extra[tokenizer_suffix(tk, compiled.primary_tokenizer)] = (
            encode_cached(examples, tasks[0], other, max_length, selection, use_cache),
            other.pad_token_id or 0)
    return DatasetFeatures(name, index, feats, tasks, tok.pad_token_id or 0, list(examples),
                           extra, tokenizer_suffix(main_tk, compiled.primary_tokenizer),
                           domains or {})


def prepare(loaded: LoadedRecipe, compiled: CompiledModel, is_main: bool,
            barrier: Callable[[], None] = lambda: None) -> RunData:
    """Rank 0 reads and tokenises first (filling the cache); the other ranks then read it."""

    def build() -> RunData:
        data = RunData([], [])
        max_len = loaded.recipe.data.max_length
        for name in compiled.dataset_heads:
            tasks = [compiled.tasks[h] for h in compiled.dataset_heads[name]]
            data.splits[name] = splits = load_splits(loaded, name, tasks)
            data.skipped.update(splits.skipped)
        names = sorted({e.domain for s in data.splits.values() for e in s.train + s.dev
                        if e.domain is not None})
        data.domains = {d: i for i, d in enumerate(names)}
        for i, (name, splits) in enumerate(data.splits.items()):
            for part in ("train", "dev"):
                getattr(data, part).append(dataset_features(
                    compiled, name, i, getattr(splits, part), splits.sources[part], max_len,
                    domains=data.domains))
        return data

    if is_main:
        data = build()
    barrier()
    if not is_main:
        data = build()
    return data
