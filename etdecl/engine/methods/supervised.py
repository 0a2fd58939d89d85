"""`supervised`: each head's task loss on its own data, weighted per head (multi-task)."""

from __future__ import annotations

import torch

from .base import LossParts, Method, head_losses


class Supervised(Method):
    def loss(self, outputs: dict[str, torch.Tensor],
             batch: dict[str, torch.Tensor]) -> LossParts:
        return head_losses(self, outputs, batch)
