"""The tower losses on their own: gradient reversal, orthogonality, DRSS's Ω."""

from __future__ import annotations

import pytest
import torch

from etdecl.components.gradient_reversal import dann_scale, reverse_gradient
from etdecl.components.tower_parts import (
    DomainDiscriminator,
    DomainRelations,
    orthogonality_penalty,
)


@pytest.mark.parametrize("scale", [1.0, 0.5, 2.0, 0.0])
def test_gradient_reversal_is_identity_forward_and_negates_scaled_gradients(scale):
    x = torch.randn(4, 3, dtype=torch.double, requires_grad=True)
    y = reverse_gradient(x, scale)
    assert torch.equal(y, x)
    upstream = torch.randn(4, 3, dtype=torch.double)
    (grad,) = torch.autograd.grad(y, x, upstream)
    assert torch.allclose(grad, -scale * upstream)
    # and through a function: d/dx sum(f(GRL(x))) = -scale * f'(x)
    x2 = x.detach().clone().requires_grad_(True)
    g = torch.autograd.grad((reverse_gradient(x2, scale) ** 2).sum(), x2)[0]
    assert torch.allclose(g, -scale * 2 * x2.detach())


def test_dann_schedule_rises_from_zero_towards_one():
    values = [dann_scale(p, 10.0) for p in (0.0, 0.1, 0.5, 1.0)]
    assert values[0] == 0.0
    assert values == sorted(values)
    assert 0.99 < values[-1] < 1.0


def test_discriminator_gradient_reaches_features_reversed():
    torch.manual_seed(0)
    disc = DomainDiscriminator(6, 5, 3, "constant", 10.0)
    feats = torch.randn(8, 6, requires_grad=True)
    domain = torch.randint(0, 3, (8,))
    disc.loss(feats, domain, 0.3).backward()
    reversed_grad = feats.grad.clone()
    feats.grad = None
    # the same loss without reversal gives the opposite gradient on the features
    torch.nn.functional.cross_entropy(disc.net(feats), domain).backward()
    assert torch.allclose(reversed_grad, -feats.grad, atol=1e-6)


def test_orthogonality_penalty_is_zero_for_orthogonal_features_and_positive_otherwise():
    s = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    p = torch.tensor([[0.0, 0.0, 0.0], [3.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert orthogonality_penalty(s, p).item() == 0.0
    torch.manual_seed(0)
    a, b = torch.randn(5, 4), torch.randn(5, 3)
    value = orthogonality_penalty(a, b)
    assert value.item() > 0
    assert torch.allclose(value, torch.linalg.matrix_norm(a.T @ b) ** 2)


def _check_omega(omega: torch.Tensor) -> None:
    assert torch.allclose(omega, omega.T, atol=1e-6)
    assert torch.linalg.eigvalsh(omega.double()).min() > 0
    assert torch.trace(omega).item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("domains", [1, 2, 4])
def test_omega_stays_symmetric_positive_definite_with_trace_one(domains):
    torch.manual_seed(domains)
    rel = DomainRelations(6, 3, domains)
    _check_omega(rel.omega)
    opt = torch.optim.SGD(rel.parameters(), lr=0.1)
    for _ in range(5):
        rel.update_omega()
        _check_omega(rel.omega)
        loss = rel.regulariser() + rel.project(torch.randn(4, 6),
                                               torch.randint(0, domains, (4,))).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    # identical domain weights (rank 1 W Wᵀ) still give a positive definite Ω
    with torch.no_grad():
        rel.weight.copy_(rel.weight[:1].expand_as(rel.weight))
    rel.update_omega()
    _check_omega(rel.omega)


def test_regulariser_matches_the_trace_by_hand_and_omega_the_closed_form():
    torch.manual_seed(1)
    rel = DomainRelations(5, 2, 3)
    rel.update_omega()
    w = rel.weight.detach().reshape(3, -1).double()
    a = w @ w.T + rel.eps * torch.eye(3, dtype=torch.double)
    vals, vecs = torch.linalg.eigh(a)
    root = vecs @ torch.diag(vals.sqrt()) @ vecs.T
    assert torch.allclose(rel.omega.double(), root / torch.trace(root), atol=1e-6)
    omega = rel.omega.double()
    by_hand = torch.trace(w.T @ torch.linalg.inv(omega) @ w)
    assert rel.regulariser().item() == pytest.approx(by_hand.item(), rel=1e-4)
    assert rel.regulariser().item() > 0


def test_projection_uses_each_rows_domain_layer():
    torch.manual_seed(2)
    rel = DomainRelations(4, 3, 2)
    x = torch.randn(2, 4)
    out = rel.project(x, torch.tensor([0, 1]))
    for i, d in enumerate((0, 1)):
        assert torch.allclose(out[i], torch.tanh(rel.weight[d] @ x[i] + rel.bias[d]), atol=1e-6)
    tokens = rel.project(x[:, None, :].expand(2, 5, 4), torch.tensor([1, 0]))
    assert tokens.shape == (2, 5, 3)
