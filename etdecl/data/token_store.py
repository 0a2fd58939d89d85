"""A streaming token store: training features larger than memory, on disk as memory maps.

Rows are read in chunks (bad rows still name their file and line), tokenised by the task in a
background pool of processes, and each feature array is appended to its own `.npy` file, read
back with `np.load(mmap_mode='r')` (no pickle). Nothing grows with the split but disk: the only
per-example data left in memory are numpy arrays (offsets, example and domain ids, targets).

A store is built in a temporary directory and renamed into place after a manifest is written
last, so a crash never leaves a store that is trusted; the key is the token cache's own
(`tokens.features_key`), so a store is reused exactly when `encode_cached` would reuse a cache.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from ..tasks.base import Example, Features, Task
from .tokens import cache_dir, features_key

MANIFEST = "manifest.json"
"""Written last: a store directory without it is not trusted."""
HEADER = 128
"""Bytes reserved for each `.npy` header, written once the array's length is known."""
CHUNK = 4096
"""Rows per tokenisation chunk."""


def default_workers() -> int:
    """Tokenising processes beside the one reading rows: one per other core, at most 4. With
    fewer than 3 cores, none: one worker tokenised at 0.66x the speed of the tokenizer's own
    threads in-process on 2 cores (bench/token_store.py --quick, 20k rows)."""
    cores = os.cpu_count() or 1
    return min(4, cores - 1) if cores >= 3 else 0


def store_dir() -> Path:
    return cache_dir() / "store"


@dataclass
class StoredSplit:
    """A split's features mapped from disk, with what training needs besides them."""

    feats: Features
    domain_ids: np.ndarray
    """Each example's index into `domain_names` (-1: none)."""
    domain_names: list[str]
    skipped: Counter
    """Bad rows skipped under `on_bad_row: skip` when the store was built."""
    path: Path

    def __len__(self) -> int:
        return int(len(self.domain_ids))


class StoredExamples(Sequence):
    """Stands in for a streamed split's examples: their number only; they stay on disk."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):  # type: ignore[override]
        raise TypeError("a streamed training split keeps its examples on disk, not in memory")


# ── reading ───────────────────────────────────────────────────────────────────────────────────

def open_store(path: Path) -> StoredSplit | None:
    """The store at `path` when it is complete, else None."""
    manifest = path / MANIFEST
    if not manifest.is_file():
        return None
    meta = json.loads(manifest.read_text())
    arrays = {name: np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False)
              for name in meta["arrays"]}
    domain_ids = arrays.pop("_domain")
    return StoredSplit(Features.from_arrays(arrays), domain_ids, meta["domains"],
                       Counter(meta["skipped"]), path)


# ── writing ───────────────────────────────────────────────────────────────────────────────────

class _Appender:
    """One `.npy` file grown chunk by chunk; its header is written when it is closed."""

    def __init__(self, path: Path) -> None:
        self.fh = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.fh.write(b"\0" * HEADER)
        self.dtype: np.dtype | None = None
        self.rest: tuple[int, ...] = ()
        self.count = 0

    def append(self, arr: np.ndarray) -> None:
        if self.dtype is None:
            self.dtype, self.rest = arr.dtype, arr.shape[1:]
        self.fh.write(np.ascontiguousarray(arr, dtype=self.dtype).tobytes())
        self.count += len(arr)

    def close(self) -> None:
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype or np.dtype(np.int64)),
                  "fortran_order": False, "shape": (self.count, *self.rest)}
        self.fh.flush()
        self.fh.seek(0)
        np.lib.format.write_array_header_1_0(self.fh, header)
        if self.fh.tell() != HEADER:  # never for 1-D or 2-D arrays of < 10^18 rows
            raise RuntimeError(f"npy header of {self.fh.name} is {self.fh.tell()} bytes")
        os.fsync(self.fh.fileno())
        self.fh.close()


class _Writer:
    """Appends chunks' features, shifting offsets and example indices past earlier chunks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, _Appender] = {}
        self.n_examples = 0

    def add(self, arrays: dict[str, np.ndarray], n_examples: int) -> None:
        if not self.files:  # a first offsets entry (0) per token group
            for name, arr in arrays.items():
                if name.endswith("offsets"):
                    self._file(name).append(arr[:1])
        tokens = {}  # tokens written so far in each group (main, views)
        for name in arrays:
            if name.endswith("offsets"):
                prefix = name[: -len("offsets")]
                ids = self.files.get(prefix + "ids")
                tokens[prefix] = ids.count if ids else 0
        for name, arr in arrays.items():
            if name.endswith("offsets"):
                arr = arr[1:] + tokens[name[: -len("offsets")]]
            elif name.endswith("example"):
                arr = arr + self.n_examples
            self._file(name).append(arr)
        self.n_examples += n_examples

    def _file(self, name: str) -> _Appender:
        if name not in self.files:
            self.files[name] = _Appender(self.path / f"{name}.npy")
        return self.files[name]

    def close(self) -> list[str]:
        for f in self.files.values():
            f.close()
        return list(self.files)


# The pool's workers tokenise with the task and tokenizer they were started with.
_WORKER: dict[str, Any] = {}


def _start_worker(task: Task, others: Sequence[Task], tokenizer, max_length: int) -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one process per core already
    _WORKER.update(task=task, others=others, tokenizer=tokenizer, max_length=max_length)


def encode_chunk(examples: list[Example], task: Task | None = None,
                 others: Sequence[Task] = (), tokenizer=None,
                 max_length: int = 0) -> dict[str, np.ndarray]:
    """A chunk's feature arrays (example indices from 0), as `encode_cached` would make them."""
    if task is None:
        task, others = _WORKER["task"], _WORKER["others"]
        tokenizer, max_length = _WORKER["tokenizer"], _WORKER["max_length"]
    local = [Example(e.dataset, i, e.inputs, e.targets, e.domain, e.file, e.line)
             for i, e in enumerate(examples)]
    feats = task.encode(local, tokenizer, max_length)
    for other in others:
        other.add_targets(feats, local)
    return feats.arrays()


def _chunks(examples: Iterable[Example], size: int) -> Iterator[list[Example]]:
    it = iter(examples)
    while part := list(islice(it, size)):
        yield part


def build_store(examples: Iterable[Example], path: Path, task: Task, tokenizer,
                max_length: int, others: Sequence[Task] = (), workers: int = 2,
                skipped: Counter | None = None, chunk: int = CHUNK) -> StoredSplit:
    """Tokenise `examples` (any iterable: it is read once, a chunk at a time) into a store.

    With `workers` > 0, chunks are tokenised by that many processes while this one reads the
    next rows; at most 2 chunks per worker are in flight, so memory stays bounded.
    """
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    writer = _Writer(tmp)
    domains: dict[str, int] = {}
    domain_file = _Appender(tmp / "_domain.npy")

    def note_domains(part: list[Example]) -> None:
        ids = [-1 if e.domain is None else domains.setdefault(e.domain, len(domains))
               for e in part]
        domain_file.append(np.asarray(ids, dtype=np.int32))

    try:
        if workers > 0:
            pool = ProcessPoolExecutor(workers, get_context("fork"), initializer=_start_worker,
                                       initargs=(task, list(others), tokenizer, max_length))
            pending: deque[tuple[Future, int]] = deque()
            with pool:
                for part in _chunks(examples, chunk):
                    note_domains(part)
                    pending.append((pool.submit(encode_chunk, part), len(part)))
                    while len(pending) >= 2 * workers:
                        fut, n = pending.popleft()
                        writer.add(fut.result(), n)
                while pending:
                    fut, n = pending.popleft()
                    writer.add(fut.result(), n)
        else:
            for part in _chunks(examples, chunk):
                note_domains(part)
                writer.add(encode_chunk(part, task, others, tokenizer, max_length), len(part))
        names = writer.close()
        domain_file.close()
        names.append("_domain")
        (tmp / MANIFEST).write_text(json.dumps({
            "arrays": names, "examples": writer.n_examples,
            "domains": sorted(domains, key=domains.__getitem__),
            "skipped": dict(skipped or {})}))
        shutil.rmtree(path, ignore_errors=True)  # an incomplete store left by a crash
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    stored = open_store(path)
    assert stored is not None
    return stored


def stream_features(examples: Iterable[Example], task: Task, tokenizer, max_length: int,
                    selection: str, others: Sequence[Task] = (), workers: int = 2,
                    skipped: Counter | None = None) -> StoredSplit:
    """The complete store for this selection, built from `examples` only when missing.

    `examples` is consumed only when building, so a reused store costs no row reading; its
    skipped-row counts are the ones recorded when it was built.
    """
    path = store_dir() / features_key(task, tokenizer, max_length, selection, others)
    stored = open_store(path)
    if stored is None:
        stored = build_store(examples, path, task, tokenizer, max_length, others, workers,
                             skipped)
    elif skipped is not None:
        skipped.update(stored.skipped)
    return stored
