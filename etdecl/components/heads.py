"""Task heads: pooled vector → task outputs."""

from __future__ import annotations

import torch
from torch import nn

from ..recipe.schema import ClassifyHead
from .registry import Registry

HEADS: Registry = Registry("head")


class ClassifierHead(nn.Module):
    def __init__(self, hidden: int, n_labels: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden, n_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.proj(self.dropout(pooled))


@HEADS.register("classify")
def build_classify(cfg: ClassifyHead, hidden: int) -> ClassifierHead:
    return ClassifierHead(hidden, len(cfg.labels), cfg.dropout)
