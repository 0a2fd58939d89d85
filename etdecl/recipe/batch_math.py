"""The arithmetic of a parallel plan in one place: how many data-parallel replicas a world
holds, how a global batch splits into micro-batches, and which ZeRO stage a plugin runs.
Torch-free: `validate`'s launch checks, `plan` and the memory estimate all read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BatchLayout:
    dp: int
    """Data-parallel replicas: processes / (tp × pp)."""
    tp: int
    pp: int
    micro: int
    """Micro-batches per optimizer step on each replica: the pipeline's, or grad_accum."""
    micro_batch: int
    """Examples per micro-batch."""
    zero: int
    """ZeRO stage the plugin runs (gemini shards everything: 3)."""


def zero_stage(plan: Any) -> int:
    return {"zero": plan.zero_stage or 1, "gemini": 3}.get(plan.plugin, plan.zero_stage or 0)


def micro_batches(plan: Any, train: Any) -> int:
    return (plan.microbatches or plan.pp) if plan.pp > 1 else train.grad_accum


def batch_layout(plan: Any, train: Any, world: int) -> BatchLayout:
    dp = max(1, world // (plan.tp * plan.pp))
    micro = micro_batches(plan, train)
    return BatchLayout(dp, plan.tp, plan.pp, micro, max(1, train.batch_size // dp // micro),
                       zero_stage(plan))
