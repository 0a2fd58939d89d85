"""A linear-chain conditional random field over tag emissions, with Viterbi decoding.

Our own, because the packaged CRFs for PyTorch are unmaintained; it is small and is tested
against brute-force enumeration of every tag path on tiny inputs. Masks must be left-aligned
(real tokens first), which is what the tagger's word-level gathering produces.
"""

from __future__ import annotations

import torch
from torch import nn


class CRF(nn.Module):
    """Transition scores between tags, plus start and end scores.

    `allowed` (optional, n_tags × n_tags of bools) forbids transitions a tagging scheme rules
    out (e.g. O → I-PER in BIO); forbidden moves get a large negative score in both the
    likelihood and decoding, so decoded paths are always well formed.
    """

    def __init__(self, n_tags: int, allowed: torch.Tensor | None = None,
                 allowed_start: torch.Tensor | None = None) -> None:
        super().__init__()
        self.n_tags = n_tags
        self.transitions = nn.Parameter(torch.zeros(n_tags, n_tags))
        self.start = nn.Parameter(torch.zeros(n_tags))
        self.end = nn.Parameter(torch.zeros(n_tags))
        penalty = torch.zeros(n_tags, n_tags)
        start_penalty = torch.zeros(n_tags)
        if allowed is not None:
            penalty = penalty.masked_fill(~allowed.bool(), -1e4)
        if allowed_start is not None:
            start_penalty = start_penalty.masked_fill(~allowed_start.bool(), -1e4)
        self.register_buffer("penalty", penalty, persistent=False)
        self.register_buffer("start_penalty", start_penalty, persistent=False)

    def _scores(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transitions + self.penalty, self.start + self.start_penalty

    def log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor,
                       mask: torch.Tensor) -> torch.Tensor:
        """Per-sequence log p(tags | emissions); emissions (B, T, K), tags and mask (B, T)."""
        emissions = emissions.float()
        mask = mask.bool()
        trans, start = self._scores()
        batch, steps, _ = emissions.shape
        tags = tags.clamp_min(0)
        ar = torch.arange(batch, device=emissions.device)
        # score of the gold path
        score = start[tags[:, 0]] + emissions[ar, 0, tags[:, 0]]
        for t in range(1, steps):
            step = trans[tags[:, t - 1], tags[:, t]] + emissions[ar, t, tags[:, t]]
            score = score + step * mask[:, t]
        last = mask.long().sum(1).clamp_min(1) - 1
        score = score + self.end[tags[ar, last]]
        # log partition by the forward algorithm
        alpha = start.unsqueeze(0) + emissions[:, 0]
        for t in range(1, steps):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans.unsqueeze(0), dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t].unsqueeze(1), nxt, alpha)
        log_z = torch.logsumexp(alpha + self.end.unsqueeze(0), dim=1)
        return score - log_z

    def forward(self, emissions: torch.Tensor, tags: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Per-sequence negative log-likelihood (the training loss before reduction)."""
        return -self.log_likelihood(emissions, tags, mask)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """The highest-scoring tag path of each sequence (Viterbi), cut to its real length."""
        emissions = emissions.float()
        mask = mask.bool()
        trans, start = self._scores()
        batch, steps, _ = emissions.shape
        score = start.unsqueeze(0) + emissions[:, 0]
        back: list[torch.Tensor] = []
        for t in range(1, steps):
            cand = score.unsqueeze(2) + trans.unsqueeze(0)  # (B, from, to)
            best, idx = cand.max(dim=1)
            nxt = best + emissions[:, t]
            score = torch.where(mask[:, t].unsqueeze(1), nxt, score)
            back.append(idx)
        score = score + self.end.unsqueeze(0)
        lengths = mask.long().sum(1).tolist()
        paths: list[list[int]] = []
        for b in range(batch):
            n = int(lengths[b])
            if n == 0:
                paths.append([])
                continue
            tag = int(score[b].argmax())
            path = [tag]
            for t in range(n - 1, 0, -1):
                tag = int(back[t - 1][b, tag])
                path.append(tag)
            paths.append(path[::-1])
        return paths
