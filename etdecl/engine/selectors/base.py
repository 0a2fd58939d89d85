"""What every selector shares: which rows it judges (`Scope`), the features it reads from the
model's forward, and the interface the trainer calls (`Selector`).

A selector judges the training rows of its `source` dataset whose domain is one of its source
domains; rows of the target domain (from any dataset) are the target it chooses for. The
features are the pooled output of the source head's first input node (view `a`), taken inside
the graph's forward through `graph.extra_forward` (chained after a method's own hook) and
detached: the selector learns from them but never sends gradients into the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .records import SelectionLog

FEATURE_KEY = "selection.pooled"
"""Output key prefix of the pooled features (training forward only): `selection.pooled.<node>`."""


def feature_key(node: str) -> str:
    return f"{FEATURE_KEY}.{node}"


@dataclass
class Scope:
    """Which rows a selector judges and which are its target, as batch ids."""

    name: str
    source: str
    source_id: int
    """Dataset id of the source rows (`dataset` in batches)."""
    domain_ids: list[int]
    """Source domains it judges (`domain` in batches)."""
    target_id: int
    domain_names: dict[int, str]
    head: str
    """The head trained on the source rows: its loss and logits make the RL state."""
    node: str
    """The graph node whose pooled output is the example's feature."""

    def selectable(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        n = len(batch["index"])
        domains = batch.get("domain")
        if domains is None or batch.get("dataset") is None:
            return torch.zeros(n, dtype=torch.bool)
        own = batch["dataset"] == self.source_id
        return own & torch.isin(domains, torch.tensor(self.domain_ids, dtype=domains.dtype))

    def target_rows(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        domains = batch.get("domain")
        if domains is None:
            return torch.zeros(len(batch["index"]), dtype=torch.bool)
        return domains == self.target_id

    def names(self, domain_ids: torch.Tensor) -> list[str]:
        return [self.domain_names.get(int(d), "") for d in domain_ids.tolist()]

    def names_np(self, domain_ids: np.ndarray) -> list[str]:
        return [self.domain_names.get(int(d), "") for d in domain_ids.tolist()]


class Selector:
    """Base: judges nothing. Subclasses choose rows before training (`restrict`) or per batch
    (`weights`), learn at evaluations (`on_eval`) and keep their state for `--resume`."""

    needs_initial_eval = False
    """True: the trainer evaluates once at step 0, so the first episode has a reward."""

    def __init__(self, cfg: Any, scope: Scope, run_dir: Path, is_main: bool, seed: int) -> None:
        self.cfg = cfg
        self.scope = scope
        self.seed = seed
        self.log = SelectionLog(run_dir, scope.name, enabled=is_main)

    def restrict(self, prepare_features: Any) -> np.ndarray | None:
        """Feature rows of the source dataset to train on (None: all). Called once, before the
        batches are drawn; `prepare_features` computes what a static selector needs."""
        return None

    def weights(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
                step: int) -> torch.Tensor | None:
        """0/1 (or soft) weights of this batch's rows (None: leave the batch alone)."""
        return None

    def on_eval(self, step: int, value: float) -> None:
        pass

    def on_resume(self, step: int) -> None:
        self.log.truncate(step)

    def on_fresh_start(self) -> None:
        self.log.reset()

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def summary(self) -> list[tuple[str, str]]:
        return []


def rl_state(outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], scope: Scope,
             rows: torch.Tensor) -> torch.Tensor | None:
    """RTL's state of the chosen rows: the example's pooled features (L2-normalised), the
    model's predicted distribution and its probability of the gold label, and the example's
    loss. None when the forward gave no features (evaluation, another head's batch)."""
    head = scope.head
    feats = outputs.get(feature_key(scope.node))
    loss = outputs.get(f"{head}.loss")
    if feats is None or loss is None:
        return None
    parts = [torch.nn.functional.normalize(feats[rows].float(), dim=-1),
             loss.detach().float()[rows].unsqueeze(-1)]
    logits = outputs.get(f"{head}.logits")
    gold = batch.get(f"{head}.label")
    if logits is not None and logits.dim() == 2:
        probs = torch.softmax(logits.detach().float()[rows], -1)
        parts.append(probs)
        if gold is not None and gold.dim() == 1:
            parts.append(probs.gather(1, gold[rows].long().clamp_min(0).unsqueeze(1)))
    return torch.cat(parts, -1)


def state_width(feature_width: int, n_classes: int | None) -> int:
    """Width of `rl_state`'s rows for a head with these classes (None: no class logits)."""
    return feature_width + 1 + (n_classes + 1 if n_classes else 0)


def step_generator(seed: int, step: int, salt: int) -> torch.Generator:
    """A generator that depends only on (seed, step, salt): a resumed run draws the same."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step * 7_919 + salt) % (2**63))
