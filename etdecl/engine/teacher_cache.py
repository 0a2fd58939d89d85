"""The teacher-output cache: each training feature's teacher outputs computed once, reused by
every later epoch (and by later runs with the same teacher and data).

Layout: `<cache_dir>/<key>/` per (teacher, training dataset), key = sha256 of the teacher's
fingerprint (its run's recipe fingerprint + checkpoint files' names, sizes and mtimes, or the
pretrained model folder's), the outputs the objectives want, and the dataset's token features
(a hash of the ids, token types and offsets the teacher reads). A changed teacher or changed
data gives another key; old entries stay on disk until removed (delete the folder).

Arrays are numpy memmaps (`.npy`): fixed-size outputs (logits and pooled in float32, [CLS]
states in float16) as [N, ...]; token-level outputs (hidden states, values) ragged in float16,
flat over the features' tokens with offsets from their lengths; attention blocks ragged
[heads, len, len] in float16. `filled.npy` (uint8 [N]) marks rows written: arrays are written
and flushed before their rows are marked, so a crash never leaves a row marked but unwritten.
Ranks of a data-parallel run share the files (each writes its own rows of a step).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..recipe.layer_maps import resolve_layer_map
from ..tasks.base import Features


def wanted_outputs(obj: Any, s_layers: int, t_layers: int,
                   teacher_heads: Iterable[str]) -> set[str]:
    """The teacher outputs one teacher's objectives read (keys as in `engine/teachers.py`):
    `<head>.logits`, `cls.<t>`, `hidden.<t>`, `attn.<t>`, `value.<t>`."""
    wanted = {f"{h}.logits" for h in teacher_heads}
    if obj.pkd is not None:
        wanted |= {f"cls.{t}" for _, t in resolve_layer_map(obj.pkd.layers, s_layers, t_layers)}
    if obj.tinybert is not None:
        tb = obj.tinybert
        pairs = resolve_layer_map(tb.layers, s_layers, t_layers)
        if "embeddings" in tb.parts:
            wanted.add("hidden.0")
        if "hidden" in tb.parts:
            wanted |= {f"hidden.{t}" for _, t in pairs}
        if "attentions" in tb.parts:
            wanted |= {f"attn.{t}" for _, t in pairs}
    if obj.minilm is not None:
        m = obj.minilm
        layer = t_layers if m.teacher_layer == "last" else int(m.teacher_layer)
        if "attention" in m.relations:
            wanted.add(f"attn.{layer}")
        if "value" in m.relations:
            wanted.add(f"value.{layer}")
    return wanted


def features_identity(feats: Features) -> str:
    """Hash of what a teacher reads of a dataset: ids, token types and row offsets."""
    h = hashlib.sha256()
    for arr in (feats.ids, feats.type_ids, feats.offsets):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def cache_key(teacher_fingerprint: str, wanted: list[str], data_identity: str) -> str:
    spec = json.dumps({"teacher": teacher_fingerprint, "outputs": sorted(wanted),
                       "data": data_identity, "version": 1}, sort_keys=True)
    return hashlib.sha256(spec.encode()).hexdigest()[:32]


def _layout(key: str) -> str:
    kind = key.split(".")[0]
    if kind in ("hidden", "value"):
        return "token"
    if kind == "attn":
        return "square"
    return "fixed"


def _dtype(key: str) -> np.dtype:
    return np.dtype(np.float32) if key.endswith("logits") or key == "pooled" else \
        np.dtype(np.float16)


class DatasetCache:
    """One teacher's outputs for one training dataset's features."""

    def __init__(self, folder: Path, lengths: np.ndarray) -> None:
        self.folder = folder
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.n = len(self.lengths)
        self.tok_off = np.concatenate([[0], np.cumsum(self.lengths)])
        self.arrays: dict[str, np.memmap] = {}
        self.meta: dict[str, list[int]] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock():
            path = folder / "filled.npy"
            if not path.exists():
                np.lib.format.open_memmap(path, "w+", np.uint8, (self.n,)).flush()
            self.filled = np.lib.format.open_memmap(path, "r+")
            self._open_meta()

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """An exclusive file lock: ranks sharing the folder create its files once."""
        with open(self.folder / ".lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _open_meta(self) -> None:
        meta = self.folder / "meta.json"
        if meta.exists() and self.meta is None:
            self.meta = json.loads(meta.read_text())
            for key in self.meta:
                self.arrays[key] = np.lib.format.open_memmap(self.folder / f"{key}.npy", "r+")

    def _create(self, outputs: dict[str, torch.Tensor]) -> None:
        with self._lock():
            self._open_meta()
            if self.meta is not None:
                return
            meta: dict[str, list[int]] = {}
            for key, value in outputs.items():
                lay = _layout(key)
                if lay == "fixed":
                    shape = (self.n, *value.shape[1:])
                    meta[key] = list(value.shape[1:])
                elif lay == "token":
                    shape = (int(self.tok_off[-1]), *value.shape[2:])
                    meta[key] = list(value.shape[2:])
                else:
                    heads = int(value.shape[1])
                    shape = (int((heads * self.lengths ** 2).sum()),)
                    meta[key] = [heads]
                np.lib.format.open_memmap(self.folder / f"{key}.npy", "w+", _dtype(key),
                                          shape).flush()
            (self.folder / "meta.json").write_text(json.dumps(meta))
            self._open_meta()

    def _sq_off(self, heads: int) -> np.ndarray:
        if not hasattr(self, "_sq"):
            self._sq = np.concatenate([[0], np.cumsum(heads * self.lengths ** 2)])
        return self._sq

    def has(self, index: np.ndarray) -> bool:
        return self.meta is not None and bool(self.filled[index].all())

    def read(self, index: np.ndarray, width: int) -> dict[str, torch.Tensor]:
        """The cached outputs of these rows, padded to the batch's width (zeros on padding)."""
        assert self.meta is not None
        out: dict[str, torch.Tensor] = {}
        b = len(index)
        for key, rest in self.meta.items():
            arr = self.arrays[key]
            lay = _layout(key)
            if lay == "fixed":
                out[key] = torch.from_numpy(np.asarray(arr[index], dtype=np.float32))
            elif lay == "token":
                buf = np.zeros((b, width, *rest), dtype=np.float32)
                for r, i in enumerate(index):
                    s, n = self.tok_off[i], self.lengths[i]
                    buf[r, :n] = arr[s:s + n]
                out[key] = torch.from_numpy(buf)
            else:
                heads = rest[0]
                off = self._sq_off(heads)
                buf = np.zeros((b, heads, width, width), dtype=np.float32)
                for r, i in enumerate(index):
                    n = self.lengths[i]
                    buf[r, :, :n, :n] = arr[off[i]:off[i + 1]].reshape(heads, n, n)
                out[key] = torch.from_numpy(buf)
        return out

    def write(self, index: np.ndarray, outputs: dict[str, torch.Tensor]) -> None:
        """Write the rows not yet filled, flush, then mark them filled."""
        if self.meta is None:
            self._create(outputs)
        assert self.meta is not None
        todo = [(r, int(i)) for r, i in enumerate(index) if not self.filled[i]]
        if not todo:
            return
        for key in self.meta:
            value = outputs[key].detach().float().cpu().numpy()
            arr = self.arrays[key]
            lay = _layout(key)
            for r, i in todo:
                n = self.lengths[i]
                if lay == "fixed":
                    arr[i] = value[r]
                elif lay == "token":
                    arr[self.tok_off[i]:self.tok_off[i] + n] = value[r, :n]
                else:
                    off = self._sq_off(self.meta[key][0])
                    arr[off[i]:off[i + 1]] = value[r, :, :n, :n].reshape(-1)
            arr.flush()
        for _, i in todo:
            self.filled[i] = 1
        self.filled.flush()


class TeacherCache:
    """Every (teacher, dataset) cache of a run, with hit and miss counts (batches of rows)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sets: dict[tuple[str, int], DatasetCache] = {}
        self.keys: dict[tuple[str, int], str] = {}
        self.hits = 0
        self.misses = 0

    def open(self, teacher: str, fingerprint: str, wanted: list[str], dataset: int,
             feats: Features) -> DatasetCache:
        slot = (teacher, dataset)
        if slot not in self.sets:
            key = cache_key(fingerprint, wanted, features_identity(feats))
            self.keys[slot] = key
            self.sets[slot] = DatasetCache(self.root / key, feats.lengths())
        return self.sets[slot]

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
