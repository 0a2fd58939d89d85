"""Cut features into padded tensor batches: a flat dict of tensors, so every plugin (pipelines
included, which split batches by key) can carry it.

Keys: `input_ids`, `attention_mask`, `token_type_ids` for the main view; `<key>_<view>` for
extra views (a siamese pair's second text is view `b`); `@<tokenizer>` after either for
tokenizers other than the graph's first; `index` (feature) and `example` (example index within
the split); then each head's targets as `<head>.<name>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from ..tasks.base import Features, Task


def _pad_rows(feats: Features, index: np.ndarray, pad_id: int) -> tuple[np.ndarray, ...]:
    starts, ends = feats.offsets[index], feats.offsets[index + 1]
    width = max(int((ends - starts).max()), 1) if len(index) else 1
    n = len(index)
    ids = np.full((n, width), pad_id, dtype=np.int64)
    types = np.zeros((n, width), dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    for row, (s, e) in enumerate(zip(starts, ends, strict=True)):
        ids[row, : e - s] = feats.ids[s:e]
        types[row, : e - s] = feats.type_ids[s:e]
        mask[row, : e - s] = 1
    return ids, types, mask


def view_key(key: str, view: str) -> str:
    return key if view == "a" else f"{key}_{view}"


def collate(feats: Features, index: Sequence[int] | np.ndarray, pad_id: int,
            tasks: Sequence[Task] = (), with_targets: bool = True,
            extra: dict[str, tuple[Features, int]] | None = None,
            suffix: str = "") -> dict[str, torch.Tensor]:
    """The chosen features, padded to the longest among them (dynamic padding)."""
    index = np.asarray(index, dtype=np.int64)
    out: dict[str, torch.Tensor] = {}
    _add_views(out, feats, index, pad_id, suffix)
    for suffix, (other, other_pad) in (extra or {}).items():  # the same examples, other
        _add_views(out, other, index, other_pad, suffix)  # tokenizers (a teacher's, say)
    out["index"] = torch.from_numpy(index.copy())
    out["example"] = torch.from_numpy(feats.example[index])
    width = out["input_ids" + suffix].shape[1]
    for task in tasks:
        out.update(task.collate_targets(feats, index, width, with_targets))
    return out


def _add_views(out: dict[str, torch.Tensor], feats: Features, index: np.ndarray, pad_id: int,
               suffix: str) -> None:
    for view, vf in {"a": feats, **feats.views}.items():
        ids, types, mask = _pad_rows(vf, index, pad_id)
        out[view_key("input_ids", view) + suffix] = torch.from_numpy(ids)
        out[view_key("attention_mask", view) + suffix] = torch.from_numpy(mask)
        out[view_key("token_type_ids", view) + suffix] = torch.from_numpy(types)
