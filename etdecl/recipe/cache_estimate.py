"""How large the teacher-output cache of a `distill` recipe gets, torch-free: what `etdecl plan`
prints and what the cache stores (one row per training example, memory-mapped).

Per teacher, each output its objectives read, per example (tokens = `data.max_length`, an upper
bound; teacher layers as in `layer_maps.py`, 0 = the embedding output):

| output          | read by                         | per example                    | dtype   |
|-----------------|---------------------------------|--------------------------------|---------|
| `HEAD.logits`   | logits, tinybert `prediction`   | labels (× tokens, token heads) | float32 |
| `cls`           | pkd                             | mapped layers × width          | float16 |
| `hidden_states` | tinybert `hidden`/`embeddings`  | layers × tokens × width        | float16 |
| `attentions`    | tinybert `attentions`           | layers × heads × tokens²       | float16 |
| `relations`     | minilm                          | relations × heads × tokens²    | float16 |
| `pooled`        | `weighting: domain_expertise`   | width                          | float32 |

The outputs of the teacher-level objectives and of every stage's are merged (union of layers),
so the estimate covers the whole staged run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .layer_maps import resolve_layer_map
from .schema_teachers import DISTILLING

ITEMSIZE = {"float16": 2, "float32": 4}


@dataclass(frozen=True)
class CacheEntry:
    teacher: str
    output: str
    """`HEAD.logits`, `cls`, `hidden_states`, `attentions`, `relations` or `pooled`."""
    shape: tuple[int, ...]
    """Per example."""
    dtype: str
    rows: int
    layers: tuple[int, ...] = ()
    """Teacher layers stored (cls, hidden_states, attentions)."""

    @property
    def bytes_per_row(self) -> int:
        return math.prod(self.shape) * ITEMSIZE[self.dtype]

    @property
    def bytes(self) -> int:
        return self.bytes_per_row * self.rows


def teacher_cache_estimate(loaded: Any, rows: int) -> list[CacheEntry]:
    """The cache's tensors for `rows` training examples (features), per teacher and output.
    Empty unless `method: distill` with `cache: true`. Outputs whose shape cannot be read here
    (a teacher not trained yet) are left out."""
    from .check_teachers import objective_sets, student_encoder, student_shape
    from .registry import config_class
    from .teacherinfo import TeacherSourceError, teacher_encoder

    r = loaded.recipe
    if r.method.type not in DISTILLING or not r.method.cache:
        return []
    tokens = r.data.max_length
    found: dict[str, dict[str, Any]] = {name: {} for name in r.teachers}
    for name, objs, _at in objective_sets(loaded):
        out = found[name]
        try:
            got = teacher_encoder(loaded, name)
        except TeacherSourceError:
            got = None
        t = got[1].shape if got else None
        student = student_encoder(loaded, name)
        s = student_shape(loaded, student) if student else None
        heads = []
        if objs.logits is not None:
            heads = list((objs.logits.heads or {}).items()) or [(h, h) for h in r.heads]
        elif objs.tinybert is not None and "prediction" in objs.tinybert.parts:
            heads = [(h, h) for h in r.heads]
        if got and got[0].kind == "model":
            heads = []  # a bare encoder has no head (a located error in validate)
        for s_head, t_head in heads:
            head = r.heads.get(s_head)
            if head is None or (got and t_head not in got[0].heads):
                continue
            labels = len(getattr(head, "labels", None) or [None])
            shape = (tokens, labels) if config_class(head).TOKEN_LEVEL else (labels,)
            out[f"{t_head}.logits"] = (shape, "float32", ())
        if t is None or s is None:
            continue

        def mapped(spec: Any, s=s, t=t) -> set[int]:
            try:
                return {tl for _s, tl in resolve_layer_map(spec, s.layers, t.layers)}
            except ValueError:
                return set()

        if objs.pkd is not None:
            out.setdefault("cls", set()).update(mapped(objs.pkd.layers))
        tb = objs.tinybert
        if tb is not None:
            hidden = (mapped(tb.layers) if "hidden" in tb.parts else set()) | (
                {0} if "embeddings" in tb.parts else set())
            if hidden:
                out.setdefault("hidden_states", set()).update(hidden)
            if "attentions" in tb.parts:
                out.setdefault("attentions", set()).update(mapped(tb.layers))
        if objs.minilm is not None:
            prev = out.get("relations")
            n = max(len(objs.minilm.relations), prev[0][0] if prev else 0)
            out["relations"] = ((n, t.heads, tokens, tokens), "float16", ())
        found[name]["_shape"] = t
    if r.method.weighting != "none":
        for name in r.teachers:
            t = found[name].get("_shape")
            if t is not None:
                found[name]["pooled"] = ((t.hidden,), "float32", ())
    entries = []
    for name, out in found.items():
        t = out.pop("_shape", None)
        for key, value in out.items():
            if isinstance(value, set):
                if not value or t is None:
                    continue
                layers = tuple(sorted(value))
                shape = {"cls": (len(layers), t.hidden),
                         "hidden_states": (len(layers), tokens, t.hidden),
                         "attentions": (len(layers), t.heads, tokens, tokens)}[key]
                entries.append(CacheEntry(name, key, shape, "float16", rows, layers))
            else:
                shape, dtype, layers = value
                entries.append(CacheEntry(name, key, shape, dtype, rows, layers))
    return entries
