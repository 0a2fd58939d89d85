"""`supervised`: each head's task loss on its own data, weighted per head (multi-task)."""

from __future__ import annotations

import torch
from torch import nn

from .base import LossParts, Method, head_losses


class Supervised(Method):
    def loss(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
             model: nn.Module) -> LossParts:
        heads = getattr(model, "heads", None)
        if heads is None:  # boosted wrappers keep the graph as `.module` (possibly nested)
            inner = model
            while not hasattr(inner, "heads") and hasattr(inner, "module"):
                inner = inner.module
            heads = inner.heads
        return head_losses(self, outputs, batch, heads)
