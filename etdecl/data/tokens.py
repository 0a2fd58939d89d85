"""Tokenise examples once, cache the ids on disk, and cut them into padded batches.

The cache key covers the data selection (file hash + fields + filters + split), the tokenizer
(hash of its serialised fast tokenizer) and `max_length`, so any change re-tokenises. Cache
files are plain numpy arrays loaded with `allow_pickle=False`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .examples import Example


@dataclass
class Encoded:
    """Variable-length token ids stored flat, with offsets; one label per example."""

    ids: np.ndarray
    type_ids: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def cache_dir() -> Path:
    root = os.environ.get("ETDECL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "etdecl"
    )
    return Path(root) / "tokens"


def tokenizer_hash(tokenizer) -> str:
    """Hash of the serialised fast tokenizer, minus truncation/padding (which calls change)."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    spec.pop("truncation", None)
    spec.pop("padding", None)
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def encode(examples: list[Example], tokenizer, max_length: int) -> Encoded:
    ids, types, offsets = [], [], [0]
    chunk = 1024
    for start in range(0, len(examples), chunk):
        part = examples[start : start + chunk]
        texts = [e.text for e in part]
        pairs = [e.text_pair for e in part] if part[0].text_pair is not None else None
        out = tokenizer(
            texts,
            pairs,
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=True,
        )
        for seq, tt in zip(out["input_ids"], out["token_type_ids"], strict=True):
            ids.extend(seq)
            types.extend(tt)
            offsets.append(offsets[-1] + len(seq))
    return Encoded(
        np.asarray(ids, dtype=np.int32),
        np.asarray(types, dtype=np.int8),
        np.asarray(offsets, dtype=np.int64),
        np.asarray([e.label for e in examples], dtype=np.int64),
    )


def encode_cached(
    examples: list[Example], tokenizer, max_length: int, selection_key: str, use_cache: bool = True
) -> Encoded:
    key = hashlib.sha256(f"{selection_key}|{tokenizer_hash(tokenizer)}|{max_length}".encode())
    path = cache_dir() / f"{key.hexdigest()[:32]}.npz"
    if use_cache and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            enc = Encoded(z["ids"], z["type_ids"], z["offsets"], z["labels"])
        if len(enc) == len(examples):
            return enc
    enc = encode(examples, tokenizer, max_length)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(tmp, ids=enc.ids, type_ids=enc.type_ids, offsets=enc.offsets, labels=enc.labels)
        os.replace(tmp, path)
    return enc


def collate(enc: Encoded, index: np.ndarray | list[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the chosen examples to the longest among them (dynamic padding)."""
    starts, ends = enc.offsets[index], enc.offsets[np.asarray(index) + 1]
    width = int((ends - starts).max())
    n = len(starts)
    ids = np.full((n, width), pad_id, dtype=np.int64)
    types = np.zeros((n, width), dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    for row, (s, e) in enumerate(zip(starts, ends, strict=True)):
        ids[row, : e - s] = enc.ids[s:e]
        types[row, : e - s] = enc.type_ids[s:e]
        mask[row, : e - s] = 1
    return {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "token_type_ids": torch.from_numpy(types),
        "labels": torch.from_numpy(enc.labels[index]),
    }


@dataclass
class TrainBatches:
    """Seeded epoch order; each optimizer step's global batch split over ranks, then micro-batches.

    Rank r takes the r-th contiguous slice of every global batch, so the gradient averaged over
    ranks equals the single-process gradient of the same global batch.
    """

    enc: Encoded
    global_batch: int
    world: int
    rank: int
    grad_accum: int
    seed: int
    pad_id: int

    @property
    def steps_per_epoch(self) -> int:
        return len(self.enc) // self.global_batch

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[list[dict[str, torch.Tensor]]]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.enc), generator=gen).numpy()
        per_rank = self.global_batch // self.world
        for step in range(start_step, self.steps_per_epoch):
            batch = order[step * self.global_batch : (step + 1) * self.global_batch]
            mine = batch[self.rank * per_rank : (self.rank + 1) * per_rank]
            yield [
                collate(self.enc, part, self.pad_id)
                for part in np.array_split(mine, self.grad_accum)
            ]


def eval_batches(
    enc: Encoded, batch_size: int, world: int, rank: int, pad_id: int
) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
    """This rank's share of the dev set, sorted by length so batches carry little padding.

    Every rank yields the same number of batches, because sharded plugins gather parameters
    collectively in forward; a rank with a smaller share repeats a batch with an empty index.
    """
    mine = np.arange(rank, len(enc), world)
    mine = mine[np.argsort(enc.lengths()[mine], kind="stable")]
    per_rank = -(-len(enc) // world)
    n_batches = -(-per_rank // batch_size)
    last = None
    for b in range(n_batches):
        index = mine[b * batch_size : (b + 1) * batch_size]
        if len(index):
            last = collate(enc, index, pad_id)
            yield index, last
        else:
            filler = last if last is not None else collate(enc, np.arange(1), pad_id)
            yield index, filler
