"""Typed outputs that flow between graph nodes: what an encoder gives and what a head gives.

Every encoder (transformer, TextCNN, BiLSTM) returns the same `EncoderOutput`, so any head of
any task can read any encoder; teachers ask for hidden states and attentions on request only,
because keeping them costs memory on every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class EncoderOutput:
    """One encoder's view of a batch.

    pooled: (batch, width) one vector per example (for classify, match, domain discriminators).
    tokens: (batch, seq, width) one vector per token (for tag and span heads).
    mask:   (batch, seq) 1 on real tokens, 0 on padding.
    hidden_states: per layer (embeddings first), each (batch, seq, width), when asked for.
    attentions: per layer, each (batch, heads, seq, seq), when asked for.
    """

    pooled: torch.Tensor
    tokens: torch.Tensor
    mask: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None

    @property
    def width(self) -> int:
        return int(self.pooled.shape[-1])


@dataclass
class HeadOutput:
    """A head's raw outputs, named by what they are (e.g. `logits`, `start_logits`).

    `extra` carries what a training method may need beside the task loss, such as the features a
    domain discriminator or a distillation objective reads.
    """

    outputs: dict[str, torch.Tensor]
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.outputs[key]


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token states over real tokens (padding excluded)."""
    m = mask.unsqueeze(-1).to(states.dtype)
    return (states * m).sum(1) / m.sum(1).clamp_min(1.0)
