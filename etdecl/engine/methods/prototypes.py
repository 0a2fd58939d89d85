"""Class × domain prototypes of pooled features and the typicality of an example (MetaKD's
meta-teacher, MetaFT's instance weights; Pan et al. 2021, Wang et al. 2020).

A prototype p[y, d] is the mean pooled feature of the examples of class y in domain d. An
example's typicality mixes how close it is to its own class's prototype in its own domain and
in the other domains:

    t(h) = mix · cos(h, p[y, own]) + (1 − mix) · mean_{d ≠ own} cos(h, p[y, d])

Only prototypes that have seen at least one example count: the mean over other domains is over
those present (none present: the own term alone; own absent: the others alone; neither: the
example has no typicality and weight 1). Rows without a label or a domain (-1) are left out of
the prototypes and get weight 1.

Weights: t ∈ [−1, 1] is mapped to (1 + t) / 2 ∈ [0, 1] (floored at 0.01 so no example is
dropped), then divided by its mean over the batch's rows that have a typicality, so those rows
average 1 and rows without one keep 1.

State (`state_dict`) is plain lists of floats, so it rides in a checkpoint's state.json.

MetaDTL (`task_typicality_scores`) uses the same prototypes across tasks: one index space for
every task's classes, one "domain", and the other tasks' closest class instead of the other
domains' prototypes of the same class (the tasks share no labels).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

FLOOR = 0.01
"""Lowest mapped typicality weight before normalisation."""


class Prototypes:
    """Running class × domain means of features: sums and counts, added to batch by batch."""

    def __init__(self, n_classes: int, n_domains: int) -> None:
        self.n_classes = n_classes
        self.n_domains = n_domains
        self.sums: torch.Tensor | None = None  # [C, D, H] float64, created on first update
        self.counts = torch.zeros(n_classes, n_domains, dtype=torch.float64)

    def reset(self) -> None:
        self.sums = None
        self.counts = torch.zeros(self.n_classes, self.n_domains, dtype=torch.float64)

    def update(self, features: torch.Tensor, labels: torch.Tensor,
               domains: torch.Tensor) -> None:
        """Add each row with a label and a domain to its (class, domain) cell."""
        keep = _valid(labels, domains, self.n_classes, self.n_domains)
        if not bool(keep.any()):
            return
        h = features.detach()[keep].to(torch.float64)
        if self.sums is None:
            self.sums = torch.zeros(self.n_classes, self.n_domains, h.shape[-1],
                                    dtype=torch.float64)
        cell = labels[keep].long() * self.n_domains + domains[keep].long()
        flat = self.sums.view(-1, h.shape[-1])
        flat.index_add_(0, cell, h)
        self.counts.view(-1).index_add_(0, cell, torch.ones(len(cell), dtype=torch.float64))

    def all_reduce(self) -> None:
        """Sum the cells over every process (data-parallel ranks see different rows)."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return
        width = torch.tensor([0 if self.sums is None else self.sums.shape[-1]])
        dist.all_reduce(width, op=dist.ReduceOp.MAX)
        if int(width) == 0:
            return
        if self.sums is None:
            self.sums = torch.zeros(self.n_classes, self.n_domains, int(width),
                                    dtype=torch.float64)
        dist.all_reduce(self.sums)
        dist.all_reduce(self.counts)

    @property
    def present(self) -> torch.Tensor:
        """[C, D] bool: the cells that have seen an example."""
        return self.counts > 0

    def means(self) -> torch.Tensor | None:
        """[C, D, H] float32 means (zeros where a cell is empty), or None before any row."""
        if self.sums is None:
            return None
        return (self.sums / self.counts.clamp_min(1.0).unsqueeze(-1)).float()

    def copy(self) -> Prototypes:
        other = Prototypes(self.n_classes, self.n_domains)
        other.sums = None if self.sums is None else self.sums.clone()
        other.counts = self.counts.clone()
        return other

    def state_dict(self) -> dict[str, Any]:
        return {"sums": None if self.sums is None else self.sums.tolist(),
                "counts": self.counts.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        sums = state.get("sums")
        self.sums = None if sums is None else torch.tensor(sums, dtype=torch.float64)
        self.counts = torch.tensor(state["counts"], dtype=torch.float64)


class EpochPrototypes:
    """Prototypes refreshed per epoch (`refresh: epoch`) or kept after the first (`once`).

    During the first epoch there are no finished prototypes yet: the running means of the
    features seen so far in that epoch are used, the current batch included (it is added
    before it is weighted). At each epoch's end the epoch's means become the prototypes the
    next epoch uses (`epoch`: every epoch; `once`: only the first epoch's, kept for good).
    """

    def __init__(self, n_classes: int, n_domains: int, refresh: str = "epoch") -> None:
        self.refresh = refresh
        self.fixed: Prototypes | None = None
        self.running = Prototypes(n_classes, n_domains)

    def observe(self, features: torch.Tensor, labels: torch.Tensor,
                domains: torch.Tensor) -> None:
        if self.fixed is None or self.refresh == "epoch":
            self.running.update(features, labels, domains)

    @property
    def current(self) -> Prototypes:
        """The prototypes an example is weighted against now."""
        return self.fixed if self.fixed is not None else self.running

    def end_epoch(self) -> None:
        if self.fixed is not None and self.refresh == "once":
            return
        self.running.all_reduce()
        if self.running.sums is not None:
            self.fixed = self.running.copy()
        self.running.reset()

    def state_dict(self) -> dict[str, Any]:
        return {"fixed": None if self.fixed is None else self.fixed.state_dict(),
                "running": self.running.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.running.load_state_dict(state["running"])
        if state.get("fixed") is None:
            self.fixed = None
        else:
            self.fixed = Prototypes(self.running.n_classes, self.running.n_domains)
            self.fixed.load_state_dict(state["fixed"])


def _valid(labels: torch.Tensor, domains: torch.Tensor, n_classes: int,
           n_domains: int) -> torch.Tensor:
    return (labels >= 0) & (labels < n_classes) & (domains >= 0) & (domains < n_domains)


def typicality_scores(features: torch.Tensor, labels: torch.Tensor, domains: torch.Tensor,
                      prototypes: Prototypes, mix: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores [B] in [−1, 1], valid [B] bool): the mixed cosine to the example's class
    prototypes in its own domain (weight `mix`) and in the other present domains (1 − mix)."""
    b = features.shape[0]
    scores = torch.zeros(b)
    valid = torch.zeros(b, dtype=torch.bool)
    means = prototypes.means()
    if means is None:
        return scores, valid
    rows = _valid(labels, domains, prototypes.n_classes, prototypes.n_domains)
    if not bool(rows.any()):
        return scores, valid
    idx = rows.nonzero().squeeze(1)
    h = features.detach()[idx].float()
    y, d = labels[idx].long(), domains[idx].long()
    protos = means[y]  # [n, D, H]
    cos = F.cosine_similarity(h.unsqueeze(1), protos, dim=-1, eps=1e-8)  # [n, D]
    present = prototypes.present[y]  # [n, D]
    own_mask = F.one_hot(d, prototypes.n_domains).bool()
    own_ok = (present & own_mask).any(1)
    own = (cos * own_mask).sum(1)
    others_mask = present & ~own_mask
    n_others = others_mask.sum(1)
    others = (cos * others_mask).sum(1) / n_others.clamp_min(1)
    has_others = n_others > 0
    m = torch.full_like(own, float(mix))
    m = torch.where(own_ok & ~has_others, torch.ones_like(m), m)
    m = torch.where(~own_ok & has_others, torch.zeros_like(m), m)
    score = m * own + (1 - m) * others
    ok = own_ok | has_others
    scores[idx] = torch.where(ok, score, torch.zeros_like(score))
    valid[idx] = ok
    return scores, valid


def to_weights(scores: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(1 + t) / 2, floored at 0.01, normalised to mean 1 over the valid rows; others 1."""
    w = torch.ones_like(scores, dtype=torch.float32)
    if bool(valid.any()):
        mapped = ((1.0 + scores[valid].float()) / 2.0).clamp_min(FLOOR)
        w[valid] = mapped / mapped.mean()
    return w


def typicality(features: torch.Tensor, labels: torch.Tensor, domains: torch.Tensor,
               prototypes: Prototypes, mix: float) -> torch.Tensor:
    """Positive per-example weights [B] from the typicality scores, mean 1 over the rows that
    have one (see the module docstring)."""
    scores, valid = typicality_scores(features, labels, domains, prototypes, mix)
    return to_weights(scores, valid)


def task_typicality_scores(features: torch.Tensor, classes: torch.Tensor, tasks: torch.Tensor,
                           prototypes: Prototypes, task_of_class: torch.Tensor,
                           mix: float) -> tuple[torch.Tensor, torch.Tensor]:
    """MetaDTL's typicality across tasks (scores [B] in [−1, 1], valid [B] bool).

    The classes of every task share one index space (`classes`: task offset + label, -1 for
    none), with one prototype each (`prototypes`: n_domains 1); `task_of_class` [C] names each
    class's task. An example's score mixes the cosine to its own class's prototype (weight
    `mix`) with its highest cosine to a present class prototype of another task (1 − mix: how
    well it relates to the other tasks, i.e. how transferable it is); one term missing, the
    other alone; neither, no score."""
    b = features.shape[0]
    scores = torch.zeros(b)
    valid = torch.zeros(b, dtype=torch.bool)
    means = prototypes.means()
    rows = (classes >= 0) & (classes < prototypes.n_classes)
    if means is None or not bool(rows.any()):
        return scores, valid
    idx = rows.nonzero().squeeze(1)
    h = features.detach()[idx].float()
    c, t = classes[idx].long(), tasks[idx].long()
    flat = means[:, 0]  # [C, H]
    present = prototypes.present[:, 0]  # [C]
    cos = F.cosine_similarity(h.unsqueeze(1), flat.unsqueeze(0), dim=-1, eps=1e-8)  # [n, C]
    own_ok = present[c]
    own = cos.gather(1, c.unsqueeze(1)).squeeze(1)
    others_mask = present.unsqueeze(0) & (task_of_class.unsqueeze(0) != t.unsqueeze(1))
    has_others = others_mask.any(1)
    others = cos.masked_fill(~others_mask, -2.0).max(1).values
    m = torch.full_like(own, float(mix))
    m = torch.where(own_ok & ~has_others, torch.ones_like(m), m)
    m = torch.where(~own_ok & has_others, torch.zeros_like(m), m)
    score = m * own + (1 - m) * torch.where(has_others, others, torch.zeros_like(others))
    ok = own_ok | has_others
    scores[idx] = torch.where(ok, score, torch.zeros_like(score))
    valid[idx] = ok
    return scores, valid
