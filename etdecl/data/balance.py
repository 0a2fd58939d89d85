"""Domain-balanced epoch orders (`train.sampling: domain_balanced`).

An epoch keeps its length (one entry per feature) but draws as many features from every
domain: each domain's quota is filled by walking fresh seeded permutations of its features, so
a small domain repeats whole passes before any feature is seen again and a large one is
sampled without repetition, differently each epoch. Domains then take turns in a shuffled
rotation, so every stretch of the order, and so every global batch, is balanced to within one
feature per domain. Features without a domain (id -1) form a group of their own.

The order is a pure function of (the domain ids, the generator's state), like the random
order it replaces, so a resumed run and every rank compute the same one.
"""

from __future__ import annotations

import numpy as np
import torch


def _draw(members: np.ndarray, count: int, gen: torch.Generator) -> np.ndarray:
    """`count` of `members`: whole shuffled passes, then part of one more (no repeat within a
    pass)."""
    passes = [members[torch.randperm(len(members), generator=gen).numpy()]
              for _ in range(-(-count // len(members)))]
    return np.concatenate(passes)[:count]


def balanced_order(domains: np.ndarray, gen: torch.Generator) -> np.ndarray:
    """Feature indices for one epoch (length `len(domains)`, repeats allowed), with every
    domain equally represented and interleaved."""
    n = len(domains)
    groups = np.unique(domains)
    if len(groups) <= 1:
        return torch.randperm(n, generator=gen).numpy()
    k = len(groups)
    quota = np.full(k, n // k)
    quota[torch.randperm(k, generator=gen).numpy()[: n % k]] += 1  # who gets the remainder
    drawn = [_draw(np.flatnonzero(domains == g), int(q), gen) for g, q in zip(groups, quota,
                                                                             strict=True)]
    rounds = int(quota.max())
    table = np.full((rounds, k), -1, dtype=np.int64)  # table[r, g]: domain g's r-th feature
    for g, part in enumerate(drawn):
        table[: len(part), g] = part
    turns = torch.rand(rounds, k, generator=gen).argsort(dim=1).numpy()  # each round's rotation
    flat = np.take_along_axis(table, turns, axis=1).reshape(-1)
    return flat[flat >= 0]
