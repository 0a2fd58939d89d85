"""Which dataset each optimizer step draws its batch from, when a recipe trains several heads
on several datasets (multi-task), and which batch of that dataset it is.

The schedule is a pure function of (seed, step): resuming at step s replays the same choices
without saving any sampler state, and every rank computes the same dataset for a step.
Strategies: `proportional` (by size), `temperature` (size^(1/T), flattening towards uniform as
T grows, as in multilingual and multi-task training), `round_robin` (in turn).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def dataset_weights(sizes: Sequence[int], strategy: str, temperature: float = 2.0) -> np.ndarray:
    sizes_arr = np.asarray(sizes, dtype=np.float64)
    if strategy == "temperature":
        w = sizes_arr ** (1.0 / temperature)
    elif strategy == "round_robin":
        w = np.ones_like(sizes_arr)
    else:
        w = sizes_arr
    return w / w.sum()


def schedule(sizes: Sequence[int], steps: int, strategy: str, seed: int,
             temperature: float = 2.0) -> np.ndarray:
    """Dataset index of each step 0..steps-1 (one dataset: all zeros)."""
    if len(sizes) == 1:
        return np.zeros(steps, dtype=np.int64)
    if strategy == "round_robin":
        return np.arange(steps, dtype=np.int64) % len(sizes)
    rng = np.random.default_rng([seed, 7919])
    return rng.choice(len(sizes), size=steps, p=dataset_weights(sizes, strategy, temperature))


def batch_numbers(choices: np.ndarray) -> np.ndarray:
    """For each step, how many batches its dataset had already given (its k-th batch)."""
    out = np.zeros(len(choices), dtype=np.int64)
    seen: dict[int, int] = {}
    for i, d in enumerate(choices.tolist()):
        out[i] = seen.get(d, 0)
        seen[d] = out[i] + 1
    return out
