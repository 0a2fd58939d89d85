"""Gradient reversal (Ganin & Lempitsky, 2015): identity forward, −λ·grad backward, so a domain
discriminator above it learns the domain while the features below learn to hide it."""

from __future__ import annotations

import math

import torch


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:  # type: ignore[override]
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """`x` unchanged; its gradient is multiplied by −scale on the way back."""
    return _Reverse.apply(x, float(scale))


def dann_scale(progress: float, gamma: float = 10.0) -> float:
    """DANN's reversal schedule 2/(1+exp(−γp))−1: 0 at the start, near 1 at the end, so the
    discriminator's noisy early signal does not disturb the features."""
    p = min(max(float(progress), 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0
