"""Per-domain scores: a task's metrics recomputed on each domain's examples, keyed
`METRIC[domain]` (`accuracy[books]`), which `train.metric` can name to pick checkpoints."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def per_domain(domains: Sequence[str | None], score: Callable[[np.ndarray], dict[str, float]],
               names: Sequence[str]) -> dict[str, float]:
    """`score(indices)` on each domain's examples (in name order), its `names` kept; empty
    when no example has a domain."""
    if all(d is None for d in domains):
        return {}
    arr = np.asarray(domains, dtype=object)
    out: dict[str, float] = {}
    for d in sorted({x for x in domains if x is not None}):
        scores = score(np.flatnonzero(arr == d))
        out.update({f"{name}[{d}]": float(scores[name]) for name in names})
    return out
