"""Distillation losses: pure tensor functions, one value per example (shape [B]), so training
methods can weight examples (MetaKD) before reducing.

Conventions: `mask` is the [B, L] attention mask (1 on real tokens); attention tensors are
[B, heads, L, L] attention *probabilities* (what HF returns with `output_attentions`); token
states are [B, L, W]. Every loss is computed in float32 and is 0 (or, for the soft
cross-entropy, at its minimum: the teacher's entropy) when the student equals the teacher.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _f(x: torch.Tensor) -> torch.Tensor:
    return x.float()


def _token_mean(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, L] → [B]: mean over real tokens."""
    m = mask.to(per_token.dtype)
    return (per_token * m).sum(1) / m.sum(1).clamp_min(1.0)


def logits_kd(student: torch.Tensor, teacher: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """Hinton et al. (2015): T² · KL(p_t ‖ p_s), p = softmax(z / T), per example.

    T² keeps the soft gradients' size independent of the temperature."""
    log_s = F.log_softmax(_f(student) / T, dim=-1)
    log_t = F.log_softmax(_f(teacher) / T, dim=-1)
    return (T * T) * (log_t.exp() * (log_t - log_s)).sum(-1)


def soft_cross_entropy(student: torch.Tensor, teacher: torch.Tensor,
                       T: float = 1.0) -> torch.Tensor:
    """TinyBERT's prediction layer: −Σ softmax(z_t / T) · log_softmax(z_s / T), per example.

    Its minimum over the student is the teacher's entropy, reached at z_s = z_t."""
    log_s = F.log_softmax(_f(student) / T, dim=-1)
    p_t = F.softmax(_f(teacher) / T, dim=-1)
    return -(p_t * log_s).sum(-1)


def pkd_loss(s_cls: list[torch.Tensor], t_cls: list[torch.Tensor]) -> torch.Tensor:
    """BERT-PKD (Sun et al. 2019): Σ_layers ‖ h_s/‖h_s‖ − h_t/‖h_t‖ ‖² / W, the MSE of the
    L2-normalised [CLS] states of each mapped layer pair ([B, W] each), summed over layers."""
    total = None
    for s, t in zip(s_cls, t_cls, strict=True):
        d = (F.normalize(_f(s), dim=-1) - F.normalize(_f(t), dim=-1)).pow(2).mean(-1)
        total = d if total is None else total + d
    assert total is not None
    return total


def hidden_mse(s: torch.Tensor, t: torch.Tensor, mask: torch.Tensor,
               proj: nn.Module | None = None) -> torch.Tensor:
    """TinyBERT hidden-state loss: MSE(H_s W_h, H_t) over real tokens, per example; `proj`
    (W_h, student width → teacher width) when the widths differ."""
    s = _f(s)
    if proj is not None:
        s = proj(s.to(proj.weight.dtype)).float()
    return _token_mean((s - _f(t)).pow(2).mean(-1), mask)


def embedding_mse(s: torch.Tensor, t: torch.Tensor, mask: torch.Tensor,
                  proj: nn.Module | None = None) -> torch.Tensor:
    """TinyBERT embedding-layer loss: MSE(E_s W_e, E_t) over real tokens, per example."""
    return hidden_mse(s, t, mask, proj)


def _pair_mask(mask: torch.Tensor) -> torch.Tensor:
    m = mask.float()
    return m[:, None, :, None] * m[:, None, None, :]  # [B, 1, L, L]: real query × real key


def attention_mse(s: torch.Tensor, t: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """TinyBERT attention loss: (1/h) Σ_heads MSE(A_s, A_t), here on the attention
    *probabilities* (HF returns those, not the pre-softmax scores TinyBERT used), over pairs of
    real tokens only; per example. Needs the same number of heads."""
    pm = _pair_mask(mask)
    d = (_f(s) - _f(t)).pow(2) * pm
    heads = s.shape[1]
    return d.sum((1, 2, 3)) / (pm.sum((1, 2, 3)) * heads).clamp_min(1.0)


def _row_kl(log_t: torch.Tensor, log_s: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL(t ‖ s) of each [B, h, L, L] row distribution, averaged over heads and real queries."""
    kl = (log_t.exp() * (log_t - log_s))
    km = mask.float()[:, None, None, :]
    kl = (kl * km).sum(-1)  # [B, h, L]
    qm = mask.float()[:, None, :]
    return (kl * qm).sum((1, 2)) / (qm.sum((1, 2)) * kl.shape[1]).clamp_min(1.0)


def attention_kl(s: torch.Tensor, t: torch.Tensor, mask: torch.Tensor,
                 eps: float = 1e-12) -> torch.Tensor:
    """MiniLM (Wang et al. 2020) self-attention transfer: (1 / (h·|x|)) Σ_heads Σ_queries
    KL(A_t ‖ A_s) of the last layer's attention distributions over real keys, per example."""
    km = mask.float()[:, None, None, :]
    def logp(a: torch.Tensor) -> torch.Tensor:
        a = _f(a) * km
        a = a / a.sum(-1, keepdim=True).clamp_min(eps)  # renormalised over real keys
        return a.clamp_min(eps).log()
    return _row_kl(logp(t), logp(s), mask)


def value_relation(v: torch.Tensor, mask: torch.Tensor, heads: int) -> torch.Tensor:
    """log softmax(V Vᵀ / √d_head) per head over real keys: [B, L, W] → [B, h, L, L]."""
    b, n, w = v.shape
    d = w // heads
    vh = _f(v).view(b, n, heads, d).transpose(1, 2)
    scores = vh @ vh.transpose(-1, -2) / math.sqrt(d)
    scores = scores.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
    return F.log_softmax(scores, dim=-1).clamp_min(-1e4)


def value_relation_kl(s_v: torch.Tensor, t_v: torch.Tensor, mask: torch.Tensor,
                      s_heads: int, t_heads: int | None = None) -> torch.Tensor:
    """MiniLM value-relation transfer: (1 / (h·|x|)) Σ KL(VR_t ‖ VR_s), VR = softmax(V Vᵀ/√d_k)
    per head, of the last layer's value vectors ([B, L, W], widths may differ, heads not)."""
    return _row_kl(value_relation(t_v, mask, t_heads or s_heads),
                   value_relation(s_v, mask, s_heads), mask)
