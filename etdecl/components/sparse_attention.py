"""Random sparse attention (RSA) for BERT-family encoders: the same pretrained Q/K/V projections,
but each query block attends only its local key blocks plus a few random ones, chosen per head.

Scores are computed on gathered key/value blocks, shape [B, H, n_blocks, block, selected·block],
so memory grows linearly with sequence length instead of quadratically; the dense n×n matrix is
never built. Sequences whose length is not a multiple of `block` are padded inside the layer
(padding keys are masked), so any batch length works.

The pattern is fixed per layer by (seed, layer, number of blocks): training, evaluation and a
reloaded model all see the same pattern, so predictions are reproducible and resuming is exact.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..recipe.check_attention import RSA_MODEL_TYPES


def local_blocks(i: int, n_blocks: int, local: int) -> list[int]:
    """The `local` blocks nearest block i (i itself first, then i−1, i+1, i−2, …), the window
    shifted inward at the edges so there are always min(local, n_blocks) of them."""
    want = min(local, n_blocks)
    start = min(max(i - (want - 1) // 2, 0), n_blocks - want)
    return sorted(range(start, start + want), key=lambda j: (abs(j - i), j))


def block_pattern(n_blocks: int, heads: int, local: int, random_blocks: int,
                  seed: int) -> torch.Tensor:
    """Key-block indices each query block attends, per head: [heads, n_blocks, selected] with
    selected = min(local + random_blocks, n_blocks). The local blocks are shared by every head;
    the random ones are drawn afresh for each head and query block from the other blocks."""
    gen = torch.Generator().manual_seed(seed)
    selected = min(local + random_blocks, n_blocks)
    out = torch.empty(heads, n_blocks, selected, dtype=torch.long)
    for i in range(n_blocks):
        near = local_blocks(i, n_blocks, local)
        others = torch.tensor([j for j in range(n_blocks) if j not in near], dtype=torch.long)
        for h in range(heads):
            pick = others[torch.randperm(len(others), generator=gen)[: selected - len(near)]]
            out[h, i] = torch.cat([torch.tensor(near, dtype=torch.long), pick])
    return out


def pattern_mask(pattern: torch.Tensor, block: int, length: int) -> torch.Tensor:
    """The pattern as a dense boolean [heads, length, length] mask (True = attended): for tests
    and pictures only, never used to compute attention."""
    heads, n_blocks, _ = pattern.shape
    blocks = torch.zeros(heads, n_blocks, n_blocks, dtype=torch.bool)
    blocks.scatter_(2, pattern, True)
    dense = blocks.repeat_interleave(block, 1).repeat_interleave(block, 2)
    return dense[:, :length, :length]


def rsa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor | None,
                  pattern: torch.Tensor, block: int, dropout: nn.Module | None = None,
                  ) -> torch.Tensor:
    """Block-sparse attention. q, k, v: [B, H, L, d]; keep: boolean [B, L] (False = padding
    key) or None; pattern: [H, n_blocks, S] from `block_pattern` for n_blocks = ceil(L / block).
    Returns the context [B, H, L, d]. Masked scores are filled with the dtype's lowest finite
    value (not -inf), so a query whose selected keys are all padding gets finite output."""
    b, h, length, d = q.shape
    n_blocks = pattern.shape[1]
    padded = n_blocks * block
    mask = keep if keep is not None else torch.ones(b, length, dtype=torch.bool, device=q.device)
    if padded != length:
        q, k, v = (F.pad(t, (0, 0, 0, padded - length)) for t in (q, k, v))
        mask = F.pad(mask, (0, padded - length), value=False)
    heads = torch.arange(h, device=q.device)[:, None, None]
    idx = pattern.to(q.device)
    s = idx.shape[-1]
    kb = k.view(b, h, n_blocks, block, d)[:, heads, idx].reshape(b, h, n_blocks, s * block, d)
    vb = v.view(b, h, n_blocks, block, d)[:, heads, idx].reshape(b, h, n_blocks, s * block, d)
    mb = mask.view(b, n_blocks, block)[:, idx].view(b, h, n_blocks, 1, s * block)
    qb = q.view(b, h, n_blocks, block, d)
    scores = torch.matmul(qb, kb.transpose(-1, -2)) / math.sqrt(d)
    scores = scores.masked_fill(~mb, torch.finfo(scores.dtype).min)
    probs = torch.softmax(scores, dim=-1)
    if dropout is not None:
        probs = dropout(probs)
    ctx = torch.matmul(probs, vb).view(b, h, padded, d)
    return ctx[:, :, :length]


class RSASelfAttention(nn.Module):
    """Drop-in for BertSelfAttention (transformers 4.51): takes over its query/key/value linears
    and dropout, returns (context,) like the eager and sdpa classes do."""

    def __init__(self, original: nn.Module, block: int, local: int, random_blocks: int,
                 seed: int) -> None:
        super().__init__()
        kind = getattr(original, "position_embedding_type", "absolute")
        if kind != "absolute":
            raise ValueError(f"random sparse attention needs absolute positions; this model "
                             f"uses position_embedding_type '{kind}'")
        if getattr(original, "is_decoder", False):
            raise ValueError("random sparse attention is for encoders, not decoders")
        self.query, self.key, self.value = original.query, original.key, original.value
        self.dropout = original.dropout
        self.num_attention_heads: int = original.num_attention_heads
        self.attention_head_size: int = original.attention_head_size
        self.all_head_size: int = original.all_head_size
        self.block, self.local, self.random_blocks, self.seed = block, local, random_blocks, seed
        self._patterns: dict[int, torch.Tensor] = {}

    def pattern(self, n_blocks: int) -> torch.Tensor:
        """This layer's fixed pattern for sequences of `n_blocks` blocks (cached)."""
        if n_blocks not in self._patterns:
            self._patterns[n_blocks] = block_pattern(
                n_blocks, self.num_attention_heads, self.local, self.random_blocks,
                self.seed * 1_000_003 + n_blocks)
        return self._patterns[n_blocks]

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, length, _ = x.shape
        return x.view(b, length, self.num_attention_heads, self.attention_head_size
                      ).transpose(1, 2)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                head_mask: torch.Tensor | None = None, encoder_hidden_states=None,
                encoder_attention_mask=None, past_key_value=None,
                output_attentions: bool = False, **_: object) -> tuple[torch.Tensor]:
        if encoder_hidden_states is not None or past_key_value is not None:
            raise ValueError("random sparse attention supports self-attention only")
        if output_attentions:
            raise ValueError("random sparse attention does not return attention maps (they "
                             "would be the dense matrix it avoids); use dense attention with "
                             "methods that read attentions")
        b, length, _ = hidden_states.shape
        q, k, v = (self._heads(f(hidden_states)) for f in (self.query, self.key, self.value))
        key_mask = _key_mask(attention_mask, b, length)
        n_blocks = -(-length // self.block)
        ctx = rsa_attention(q, k, v, key_mask, self.pattern(n_blocks), self.block, self.dropout)
        if head_mask is not None:  # [1 or B, H, 1, 1]: scaling probs scales the context
            ctx = ctx * head_mask
        return (ctx.transpose(1, 2).reshape(b, length, self.all_head_size),)


def _key_mask(mask: torch.Tensor | None, b: int, length: int) -> torch.Tensor | None:
    """BERT's extended additive mask ([B,1,1,L] eager, [B,1,L,L] sdpa; 0 or the dtype's
    minimum) → which keys to keep, [B, L]; an encoder's padding mask is the same for every
    query, so the first row stands for all."""
    if mask is None:
        return None
    row = mask.reshape(b, -1, mask.shape[-1])[:, 0, :length]
    return row if row.dtype == torch.bool else row > torch.finfo(row.dtype).min / 2


def _layers(backbone: nn.Module) -> list[nn.Module]:
    encoder = getattr(backbone, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None:
        raise ValueError(f"cannot find the attention layers of a {type(backbone).__name__}")
    return list(layers)


def install_rsa(backbone: nn.Module, block: int, local: int, random_blocks: int,
                seed: int) -> int:
    """Replace every layer's self-attention with RSA over the same weights; returns the count.
    Layer l draws its pattern from seed + l, so layers look at different random blocks."""
    kind = getattr(backbone.config, "model_type", None)
    if kind not in RSA_MODEL_TYPES:
        raise ValueError(f"random sparse attention supports model types "
                         f"{', '.join(RSA_MODEL_TYPES)}; this encoder is '{kind}'")
    layers = _layers(backbone)
    for i, layer in enumerate(layers):
        layer.attention.self = RSASelfAttention(layer.attention.self, block, local,
                                                random_blocks, seed * 7919 + i)
    return len(layers)
