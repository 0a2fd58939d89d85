"""Tokenise examples once, cache the features on disk, and cut them into padded batches.

The cache key covers the data selection (file hash + heads + fields + filters + split), the
tokenizer (hash of its serialised fast tokenizer), `max_length` and the task's encoding, so any
change re-tokenises. Cache files are plain numpy arrays loaded with `allow_pickle=False`.

Training batches: each optimizer step draws one dataset (`mixing.py`) and that dataset's next
batch in a seeded per-epoch order (random or domain-balanced: `balance.py`; optionally
length-bucketed: `bucketing.py`); the global
batch is split over ranks, then micro-batches.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..recipe.split_archive import etdecl_cache
from ..tasks.base import Example, Features, Task
from .balance import balanced_order
from .bucketing import bucketed_order
from .collate import collate
from .mixing import batch_numbers, schedule


def cache_dir() -> Path:
    return etdecl_cache() / "tokens"


def tokenizer_hash(tokenizer) -> str:
    """Hash of the serialised fast tokenizer, minus truncation/padding (which calls change)."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    spec.pop("truncation", None)
    spec.pop("padding", None)
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


CACHE_VERSION = "2"
"""Bumped when the stored arrays change meaning (2: task-owned features)."""


def features_key(task: Task, tokenizer, max_length: int, selection_key: str,
                 others: Sequence[Task] = ()) -> str:
    """What the features depend on: data selection, tokenizer, max_length, task encodings."""
    spec = json.dumps({"task": task.kind, "cfg": task.cfg.model_dump(mode="json")
                       if hasattr(task.cfg, "model_dump") else repr(task.cfg)}, sort_keys=True)
    key = hashlib.sha256(f"{CACHE_VERSION}|{selection_key}|{tokenizer_hash(tokenizer)}|"
                         f"{max_length}|{spec}|{[t.name for t in others]}".encode())
    return key.hexdigest()[:32]


def encode_cached(examples: Sequence[Example], task: Task, tokenizer, max_length: int,
                  selection_key: str, use_cache: bool = True,
                  others: Sequence[Task] = ()) -> Features:
    """`task` encodes the examples (and its targets); `others`, heads sharing the dataset, add
    their targets."""
    path = cache_dir() / f"{features_key(task, tokenizer, max_length, selection_key, others)}.npz"
    if use_cache and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            feats = Features.from_arrays({k: z[k] for k in z.files})
        if int(feats.example.max(initial=-1)) + 1 == len(examples):
            return feats
    feats = task.encode(examples, tokenizer, max_length)
    for other in others:
        other.add_targets(feats, examples)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(tmp, **feats.arrays())
        os.replace(tmp, path)
    return feats


@dataclass
class DatasetFeatures:
    """One dataset's features for training or evaluation, and how to batch them."""

    name: str
    index: int
    """Dataset id carried in batches (`dataset`), in recipe order."""
    feats: Features
    tasks: list[Task]
    pad_id: int
    examples: list[Example] = field(default_factory=list)
    extra: dict[str, tuple[Features, int]] = field(default_factory=dict)
    """Other tokenizers' features of the same examples, by batch-key suffix."""
    suffix: str = ""
    """Batch-key suffix of `feats`' tokenizer (empty for the graph's first tokenizer)."""
    domains: dict[str, int] = field(default_factory=dict)
    """Domain name → id, shared by every dataset of the run (`domain` in batches; -1: none)."""
    domain_ids: np.ndarray | None = None
    """Each example's domain id, when the examples are not in memory (a token store)."""

    def __post_init__(self) -> None:
        if self.domain_ids is not None:
            self._domain_ids = self.domain_ids
            return
        ids = [self.domains.get(e.domain, -1) if e.domain is not None else -1
               for e in self.examples]
        self._domain_ids = np.asarray(ids, dtype=np.int64)

    def feature_domains(self) -> np.ndarray:
        """Each feature's domain id (-1: none); a span example's windows share its domain."""
        if not len(self._domain_ids):
            return np.full(len(self.feats), -1, dtype=np.int64)
        return self._domain_ids[self.feats.example]

    def batch(self, index: np.ndarray | Sequence[int],
              with_targets: bool = True) -> dict[str, torch.Tensor]:
        """Padded tensors of these features, with their dataset id and each one's domain id,
        so selectors, domain towers and per-example weights can address them."""
        out = collate(self.feats, index, self.pad_id, self.tasks, with_targets, self.extra,
                      self.suffix)
        out["dataset"] = torch.full((len(out["index"]),), self.index, dtype=torch.long)
        if len(self._domain_ids):
            rows = self.feats.example[np.asarray(index, dtype=np.int64)]
            out["domain"] = torch.from_numpy(self._domain_ids[rows].astype(np.int64))
        return out


@dataclass
class TrainBatches:
    """Seeded order; each optimizer step's global batch split over ranks, then micro-batches.

    Rank r takes the r-th contiguous slice of every global batch, so the gradient averaged over
    ranks equals the single-process gradient of the same global batch.
    """

    sets: list[DatasetFeatures]
    global_batch: int
    world: int
    rank: int
    grad_accum: int
    seed: int
    epochs: int = 1
    mixing: str = "proportional"
    temperature: float = 2.0
    batching: str = "random"
    """`random`, or `bucketed`: length-sorted global batches in shuffled order (bucketing.py)."""
    bucket_window: int = 50
    sampling: str = "random"
    """`random`, or `domain_balanced`: every domain equally represented each epoch (balance.py)."""
    rows: dict[int, np.ndarray] = field(default_factory=dict)
    """Position in `sets` → the feature rows it trains on (a selector's choice); others: all."""

    def __post_init__(self) -> None:
        self._orders: dict[int, tuple[int, np.ndarray]] = {}  # dataset → (epoch, its order)
        sizes = [len(self._rows(d)) for d in range(len(self.sets))]
        self.per_set = [n // self.global_batch for n in sizes]
        total = self.steps_per_epoch * max(self.epochs, 1)
        self.choices = schedule([max(p, 1) for p in self.per_set], total, self.mixing,
                                self.seed, self.temperature)
        if len(self.sets) > 1:  # never draw from a dataset smaller than one global batch
            empty = [i for i, p in enumerate(self.per_set) if p == 0]
            if empty:
                self.choices = np.where(np.isin(self.choices, empty),
                                        int(np.argmax(self.per_set)), self.choices)
        self.numbers = batch_numbers(self.choices)

    @property
    def steps_per_epoch(self) -> int:
        return sum(self.per_set)

    def _order(self, d: int, epoch: int) -> np.ndarray:
        """Dataset d's order in its epoch: a pure function of (seed, epoch, d), kept per dataset
        so a step does not redraw it."""
        cached = self._orders.get(d)
        if cached is not None and cached[0] == epoch:
            return cached[1]
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch + d * 7_919_000)
        rows = self._rows(d)
        if self.sampling == "domain_balanced":
            order = rows[balanced_order(self.sets[d].feature_domains()[rows], gen)]
        else:
            order = rows[torch.randperm(len(rows), generator=gen).numpy()]
        if self.batching == "bucketed":  # the same generator, drawn on: batch-level shuffle
            order = bucketed_order(order, self.sets[d].feats.lengths(), self.global_batch,
                                   self.bucket_window, gen)
        self._orders[d] = (epoch, order)
        return order

    def _rows(self, d: int) -> np.ndarray:
        chosen = self.rows.get(d)
        return np.arange(len(self.sets[d].feats)) if chosen is None else chosen

    def step_batch(self, step: int) -> tuple[DatasetFeatures, np.ndarray]:
        """(dataset, this rank's feature indices) of a global step."""
        d = int(self.choices[step])
        k = int(self.numbers[step])
        per = self.per_set[d]
        order = self._order(d, k // per)
        within = k % per
        batch = order[within * self.global_batch : (within + 1) * self.global_batch]
        per_rank = self.global_batch // self.world
        return self.sets[d], batch[self.rank * per_rank : (self.rank + 1) * per_rank]

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[list[dict[str, torch.Tensor]]]:
        for step in range(start_step, self.steps_per_epoch):
            ds, mine = self.step_batch(epoch * self.steps_per_epoch + step)
            yield [ds.batch(part) for part in np.array_split(mine, self.grad_accum)]


def eval_batches(
    ds: DatasetFeatures, batch_size: int, world: int, rank: int, with_targets: bool = True
) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
    """This rank's share of a dataset's features, sorted by length so batches carry little
    padding.

    Every rank yields the same number of batches, because sharded plugins gather parameters
    collectively in forward; a rank with a smaller share repeats a batch with an empty index.
    """
    n = len(ds.feats)
    mine = np.arange(rank, n, world)
    mine = mine[np.argsort(ds.feats.lengths()[mine], kind="stable")]
    per_rank = -(-n // world)
    n_batches = -(-per_rank // batch_size)
    last = None
    for b in range(n_batches):
        index = mine[b * batch_size : (b + 1) * batch_size]
        if len(index):
            last = ds.batch(index, with_targets)
            yield index, last
        else:
            filler = last if last is not None else ds.batch(np.arange(1), with_targets)
            yield index, filler
