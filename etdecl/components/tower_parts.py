"""The losses and small modules towers attach: a domain discriminator behind gradient
reversal, the shared/private orthogonality penalty, and DRSS's domain-relationship
regulariser with its closed-form covariance Ω."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .gradient_reversal import dann_scale, reverse_gradient


def orthogonality_penalty(shared: torch.Tensor, private: torch.Tensor) -> torch.Tensor:
    """‖SᵀP‖²_F of a batch's shared (B, ds) and private (B, dp) features: zero when every
    shared feature column is orthogonal to every private one."""
    return (shared.float().transpose(0, 1) @ private.float()).pow(2).sum()


class DomainDiscriminator(nn.Module):
    """A small MLP guessing each row's domain from features seen through gradient reversal."""

    def __init__(self, width: int, hidden: int, domains: int, schedule: str,
                 gamma: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, domains))
        self.schedule = schedule
        self.gamma = gamma

    def scale(self, progress: float) -> float:
        return 1.0 if self.schedule == "constant" else dann_scale(progress, self.gamma)

    def loss(self, features: torch.Tensor, domain: torch.Tensor,
             progress: float) -> torch.Tensor:
        """Mean cross-entropy of the discriminator on the rows' domains."""
        logits = self.net(reverse_gradient(features, self.scale(progress)))
        return F.cross_entropy(logits.float(), domain)


class DomainRelations(nn.Module):
    """DRSS's per-domain layers W_d (hidden → K) and the domains' covariance Ω (D×D).

    The regulariser is tr(Wᵀ Ω⁻¹ W) over the stacked flattened W_d (rows = domains). Ω has the
    closed form (W Wᵀ + εI)^½ / tr(·) given W (Zhang & Yeung's multi-task relationship
    learning), re-solved from the detached weights at each training forward, so it stays
    symmetric positive definite with trace 1; it is a persistent buffer (checkpointed).
    """

    def __init__(self, width: int, out: int, domains: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(domains, out, width))
        self.bias = nn.Parameter(torch.zeros(domains, out))
        for d in range(domains):
            nn.init.xavier_uniform_(self.weight.data[d])
        self.eps = eps
        self.register_buffer("omega", torch.eye(domains) / domains)

    def flat(self) -> torch.Tensor:
        return self.weight.reshape(self.weight.shape[0], -1)

    @torch.no_grad()
    def update_omega(self) -> None:
        w = self.flat().detach().double()
        a = w @ w.T + self.eps * torch.eye(w.shape[0], dtype=w.dtype)
        vals, vecs = torch.linalg.eigh(a)
        root = (vecs * vals.clamp_min(self.eps).sqrt()) @ vecs.T
        root = (root + root.T) / 2
        self.omega.copy_((root / torch.trace(root)).to(self.omega.dtype))

    def regulariser(self) -> torch.Tensor:
        """tr(Wᵀ Ω⁻¹ W), computed as tr(Ω⁻¹ W Wᵀ): D×D instead of (K·H)×(K·H)."""
        w = self.flat().float()
        inv = torch.linalg.inv(self.omega.float())
        return (inv * (w @ w.T)).sum()  # Ω⁻¹ is symmetric: tr(A B) = Σ A∘B

    def project(self, x: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        """tanh(W_d x + b_d) with d each row's domain; x is (B, H) or (B, T, H)."""
        w, b = self.weight[domain], self.bias[domain]
        if x.dim() == 2:
            return torch.tanh(torch.einsum("bh,bkh->bk", x, w.to(x.dtype)) + b.to(x.dtype))
        return torch.tanh(torch.einsum("bth,bkh->btk", x, w.to(x.dtype))
                          + b.to(x.dtype).unsqueeze(1))
