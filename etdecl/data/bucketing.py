"""Length-bucketed epoch orders: global batches of similar lengths, so less padding is computed.

A random epoch order is cut into windows of `window` global batches; each window is sorted by
length (stably, so ties keep their random order), cut into global batches, and the batches of
the whole epoch are shuffled. The examples an epoch uses are exactly those the random order
uses (its first `batch × (n // batch)`), and the order is a pure function of its inputs, so a
resumed run replays it without saved sampler state.
"""

from __future__ import annotations

import numpy as np
import torch


def bucketed_order(order: np.ndarray, lengths: np.ndarray, batch: int, window: int,
                   gen: torch.Generator) -> np.ndarray:
    """`order` regrouped into length-sorted global batches in shuffled batch order.

    The tail past the last whole batch (which no step draws) stays at the end, unchanged, so
    the result is a permutation of `order` of the same length.
    """
    n_batches = len(order) // batch
    used, tail = order[: n_batches * batch], order[n_batches * batch :]
    if n_batches == 0:
        return order
    window_of = np.arange(len(used)) // (window * batch)
    grouped = used[np.lexsort((lengths[used], window_of))]  # lexsort is stable
    batches = grouped.reshape(n_batches, batch)
    shuffled = batches[torch.randperm(n_batches, generator=gen).numpy()]
    return np.concatenate([shuffled.reshape(-1), tail])


def padding_fraction(lengths: np.ndarray, batches: list[np.ndarray]) -> float:
    """Padded tokens over all tokens of the padded batches (each padded to its longest row)."""
    real = padded = 0
    for index in batches:
        if len(index) == 0:
            continue
        rows = lengths[index]
        real += int(rows.sum())
        padded += int(rows.max()) * len(rows)
    return 1.0 - real / padded if padded else 0.0
