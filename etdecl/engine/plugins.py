"""Parallel plan → ColossalAI Booster plugin."""

from __future__ import annotations

from colossalai.booster.plugin import Plugin, TorchDDPPlugin

from ..recipe.schema import ParallelConfig


def make_plugin(plan: ParallelConfig) -> Plugin:
    if plan.plugin == "ddp":
        return TorchDDPPlugin()
    raise ValueError(f"unknown plugin {plan.plugin!r}")
