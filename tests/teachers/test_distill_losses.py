"""Each distillation loss is 0 (or at its minimum) when the student equals the teacher and
positive (above it) otherwise; padding never counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from etdecl.components import distill_losses as L
from etdecl.recipe.layer_maps import resolve_layer_map

torch.manual_seed(0)
B, N, H, W = 3, 5, 2, 8
MASK = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]])


def attn(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(B, H, N, N, generator=g)
    scores = scores.masked_fill(MASK[:, None, None, :] == 0, -1e9)
    return scores.softmax(-1)


def states(seed: int, width: int = W) -> torch.Tensor:
    return torch.randn(B, N, width, generator=torch.Generator().manual_seed(seed))


def both_ways(fn, same, other):
    zero = fn(*same)
    assert zero.shape == (B,)
    assert torch.allclose(zero, torch.zeros(B), atol=1e-6), zero
    assert (fn(*other) > 1e-4).all()


def test_logits_kd():
    s, t = torch.randn(B, 4), torch.randn(B, 4)
    both_ways(lambda a, b: L.logits_kd(a, b, 2.0), (t, t), (s, t))


def test_soft_cross_entropy_minimum_is_the_teachers_entropy():
    t = torch.randn(B, 4)
    at_t = L.soft_cross_entropy(t, t, 2.0)
    entropy = -(torch.softmax(t / 2, -1) * torch.log_softmax(t / 2, -1)).sum(-1)
    assert torch.allclose(at_t, entropy, atol=1e-6)
    assert (L.soft_cross_entropy(torch.randn(B, 4), t, 2.0) > at_t).all()


def test_pkd_is_scale_free():
    t = [torch.randn(B, W), torch.randn(B, W)]
    both_ways(L.pkd_loss, ([3 * x for x in t], t), ([torch.randn(B, W) for _ in t], t))


def test_hidden_and_embedding_mse_with_and_without_projection():
    t = states(1)
    both_ways(L.hidden_mse, (t, t, MASK), (states(2), t, MASK))
    both_ways(L.embedding_mse, (t, t, MASK), (states(2), t, MASK))
    proj = nn.Linear(4, W, bias=False)
    s = states(3, 4)
    t_proj = proj(s).detach()
    both_ways(lambda a, b, m: L.hidden_mse(a, b, m, proj), (s, t_proj, MASK), (s, t, MASK))


def test_padding_never_counts():
    t = states(1)
    s = t.clone()
    s[1, 3:] += 100.0  # padding of row 1
    assert torch.allclose(L.hidden_mse(s, t, MASK), torch.zeros(B), atol=1e-6)
    a, b = attn(1), attn(1).clone()
    b[2, :, 2:, :] = 0.5  # padding queries of row 2
    assert torch.allclose(L.attention_mse(b, a, MASK), torch.zeros(B), atol=1e-6)
    assert torch.allclose(L.attention_kl(b, a, MASK), torch.zeros(B), atol=1e-6)


def test_attention_losses():
    both_ways(L.attention_mse, (attn(1), attn(1), MASK), (attn(2), attn(1), MASK))
    both_ways(L.attention_kl, (attn(1), attn(1), MASK), (attn(2), attn(1), MASK))


def test_value_relation_widths_may_differ():
    t = states(1)
    both_ways(lambda a, b, m: L.value_relation_kl(a, b, m, H, H), (t, t, MASK),
              (states(2), t, MASK))
    wide = states(4, 2 * W)
    assert L.value_relation_kl(states(5), wide, MASK, H, H).shape == (B,)


@pytest.mark.parametrize("spec,S,T,pairs", [
    ("uniform", 2, 6, [(1, 3), (2, 6)]),
    ("last", 2, 6, [(1, 5), (2, 6)]),
    ([[1, 1], [2, 6]], 2, 6, [(1, 1), (2, 6)]),
])
def test_layer_maps(spec, S, T, pairs):
    assert resolve_layer_map(spec, S, T) == pairs
