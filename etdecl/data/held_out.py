"""Rows held out of the weights' batches for a bilevel method's outer steps (AdaBERT's
architecture weights learn on rows the weights never train on).

The split is a seeded function of the dataset's position and the run's seed, so `--resume`
holds out the same rows; the held-out batches are drawn by step number from their own
`TrainBatches`, so a resumed step reads the batch it would have read.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from .tokens import TrainBatches


def held_count(n: int, share: float) -> int:
    """Rows held out of n: `share` of them, at least one, never all (0 without a share)."""
    return min(n - 1, max(1, int(round(share * n)))) if share else 0


def split_rows(rows: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept for the weights, held out): `share` of `rows`, chosen by `seed`."""
    gen = np.random.default_rng(seed)
    order = gen.permutation(len(rows))
    n_held = held_count(len(rows), share)
    return np.sort(rows[order[n_held:]]), np.sort(rows[order[:n_held]])


class HeldOut:
    """The held-out rows of every batched dataset, as one batch of micro-batches per step."""

    def __init__(self, batches: TrainBatches, held: dict[int, np.ndarray],
                 total_steps: int) -> None:
        probe = replace(batches, rows=held, epochs=1)
        per_epoch = probe.steps_per_epoch
        if per_epoch == 0:
            n = sum(len(r) for r in held.values())
            raise ValueError(f"the held-out share holds {n} rows, fewer than one batch of "
                             f"{batches.global_batch}")
        self.rows = held
        self.batches = replace(batches, rows=held, epochs=-(-total_steps // per_epoch) + 1)
        self.per_epoch = per_epoch

    def __len__(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def micro_batches(self, step: int) -> list[dict[str, torch.Tensor]]:
        ds, mine = self.batches.step_batch(step)
        return [ds.batch(part) for part in np.array_split(mine, self.batches.grad_accum)]


def hold_out(batches: TrainBatches, share: float, seed: int
             ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """(rows the weights train on, rows held out) per batched dataset position."""
    kept, held = {}, {}
    for d in range(len(batches.sets)):
        rows = batches.rows.get(d)
        if rows is None:
            rows = np.arange(len(batches.sets[d].feats))
        kept[d], held[d] = split_rows(np.asarray(rows), share, seed * 7_919 + d)
    return kept, held
