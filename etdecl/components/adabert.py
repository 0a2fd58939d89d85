"""AdaBERT's student (Chen et al. 2020): K cells over word-piece embeddings, searched or derived.

The search space, the ops' costs and the derived architecture as data live torch-free in
`recipe/adabert_space.py`; this module builds them. While searching, one architecture matrix
`arch_alpha` (edges × ops), shared by every cell as in the paper, weighs each edge's ops
through a Gumbel-softmax at temperature `tau` (the method anneals it); in eval mode the
weights are the plain softmax, without noise. `arch_alpha` is kept out of the weights'
optimizer (`engine/optim.py`): the `adabert` method steps it on held-out rows. A derived
encoder builds only the kept edges' ops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..recipe.adabert_space import (
    OPS,
    Genotype,
    conv_spec,
    edge_inputs,
    edges_per_cell,
    genotype_cost,
    node_offsets,
    op_cost,
    op_macs,
    op_params,
)
from .outputs import EncoderOutput, masked_mean

ARCH_PARAM = "arch_alpha"
"""The architecture weights' parameter name (the weights' optimizer leaves it out)."""


class _Conv(nn.Module):
    """A 'same' 1-d convolution over tokens, then ReLU; padding positions read and give 0."""

    def __init__(self, hidden: int, width: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(hidden, hidden, width, padding=dilation * (width // 2),
                              dilation=dilation)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self.conv((x * mask).transpose(1, 2)).transpose(1, 2)
        return torch.relu(y) * mask


class _Pool(nn.Module):
    """Max or average over 3 neighbouring tokens, padding left out."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        xt, mt = x.transpose(1, 2), mask.transpose(1, 2)
        if self.kind == "max":
            filled = xt.masked_fill(mt == 0, float("-inf"))
            y = F.max_pool1d(filled, 3, stride=1, padding=1)
            y = torch.where(torch.isfinite(y), y, torch.zeros_like(y))
        else:
            total = F.avg_pool1d(xt * mt, 3, stride=1, padding=1, count_include_pad=True)
            count = F.avg_pool1d(mt, 3, stride=1, padding=1, count_include_pad=True)
            y = total / count.clamp_min(1e-6)
        return y.transpose(1, 2) * mask


class _Identity(nn.Module):
    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return x


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def build_op(name: str, hidden: int) -> nn.Module:
    conv = conv_spec(name)
    if conv is not None:
        return _Conv(hidden, conv.width, conv.dilation)
    if name in ("maxpool3", "avgpool3"):
        return _Pool(name[:3])
    if name == "identity":
        return _Identity()
    if name == "zero":
        return _Zero()
    raise ValueError(f"unknown AdaBERT op '{name}' (one of {', '.join(OPS)})")


class _MixedEdge(nn.Module):
    """Every candidate op of one edge, summed with the edge's architecture weights."""

    def __init__(self, ops: list[str], hidden: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(build_op(o, hidden) for o in ops)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return sum(w[i] * op(x, mask) for i, op in enumerate(self.ops))  # type: ignore[return-value]


class _Cell(nn.Module):
    """One cell: searched (every edge mixed) or derived (the kept edges' ops only). Its output
    is the mean of its nodes plus its second input, layer-normalised."""

    def __init__(self, hidden: int, nodes: int, ops: list[str], genotype: Genotype | None,
                 dropout: float) -> None:
        super().__init__()
        self.nodes = nodes if genotype is None else len(genotype)
        self.genotype = genotype
        if genotype is None:
            self.edges = nn.ModuleList(_MixedEdge(ops, hidden)
                                       for _ in range(edges_per_cell(nodes)))
        else:
            self.kept = nn.ModuleDict({f"n{j}_in{i}": build_op(op, hidden)
                                       for j, node in enumerate(genotype) for i, op in node})
        self.norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, mask: torch.Tensor,
                weights: torch.Tensor | None) -> torch.Tensor:
        states = [s0, s1]
        if self.genotype is None:
            assert weights is not None
            for j, first in enumerate(node_offsets(self.nodes)):
                states.append(sum(self.edges[first + i](states[i], mask, weights[first + i])
                                  for i in range(edge_inputs(j))))
        else:
            for j, node in enumerate(self.genotype):
                states.append(sum(self.kept[f"n{j}_in{i}"](states[i], mask) for i, _ in node))
        out = torch.stack(states[2:]).mean(0) + s1
        return self.norm(self.dropout(out)) * mask


class AdaBERTCells(nn.Module):
    """The `adabert` encoder: embeddings → projection to `hidden` → K cells → pooling."""

    def __init__(self, embedding: nn.Embedding, cells: int, nodes: int, hidden: int,
                 ops: list[str], dropout: float, pooling: str = "mean",
                 genotype: Genotype | None = None) -> None:
        super().__init__()
        self.embedding = embedding
        dim = embedding.embedding_dim
        self.project = nn.Linear(dim, hidden) if dim != hidden else nn.Identity()
        self.ops = list(ops)
        self.searching = genotype is None
        self.genotype = genotype
        self.nodes = nodes if genotype is None else len(genotype)
        self.cells = nn.ModuleList(_Cell(hidden, nodes, self.ops, genotype, dropout)
                                   for _ in range(cells))
        self.dropout = nn.Dropout(dropout)
        self.pooling = pooling
        self.hidden_size = hidden
        self.tau = 1.0
        if self.searching:
            gen = torch.Generator().manual_seed(0)
            self.arch_alpha = nn.Parameter(
                1e-3 * torch.randn(edges_per_cell(nodes), len(self.ops), generator=gen))
            self.register_buffer("op_costs", torch.tensor(
                [op_cost(o, hidden) for o in self.ops]), persistent=False)

    @property
    def num_cells(self) -> int:
        return len(self.cells)

    # ── architecture weights ─────────────────────────────────────────────────────────────

    def edge_weights(self) -> torch.Tensor:
        """(edges, ops): Gumbel-softmax samples at `tau` in training, the softmax in eval."""
        alpha = self.arch_alpha.float()
        if self.training:
            return F.gumbel_softmax(alpha, tau=self.tau, hard=False, dim=-1)
        return torch.softmax(alpha, dim=-1)

    def expected_cost(self) -> torch.Tensor:
        """The efficiency loss: each edge's op costs (0..1) weighted by its softmax, averaged
        over the edges (the cells share the weights, so K only scales it)."""
        probs = torch.softmax(self.arch_alpha.float(), dim=-1)
        return (probs * self.op_costs).sum(-1).mean()

    def derive(self, top_k: int = 2) -> Genotype:
        """The discrete cell: per node, the `top_k` edges whose best non-zero op weighs most,
        each with that op (the argmax of its weights, zero left out)."""
        probs = torch.softmax(self.arch_alpha.detach().float(), dim=-1)
        live = [k for k, o in enumerate(self.ops) if o != "zero"]
        out: Genotype = []
        for j, first in enumerate(node_offsets(self.nodes)):
            scored = []
            for i in range(edge_inputs(j)):
                row = probs[first + i, live]
                best = int(torch.argmax(row))
                scored.append((float(row[best]), i, self.ops[live[best]]))
            keep = sorted(scored, key=lambda s: (-s[0], s[1]))[:top_k]
            out.append([(i, op) for _, i, op in sorted(keep, key=lambda s: s[1])])
        return out

    # ── costs ────────────────────────────────────────────────────────────────────────────

    def cell_cost(self, genotype: Genotype | None = None) -> tuple[int, int]:
        """(parameters, MACs per token) of the ops of all cells: of `genotype` (default: the
        derived cells), or, searching, of every candidate op."""
        h = self.hidden_size
        genotype = genotype if genotype is not None else self.genotype
        if genotype is not None:
            params, macs = genotype_cost(genotype, h)
        else:
            n = edges_per_cell(self.nodes)
            params = n * sum(op_params(o, h) for o in self.ops)
            macs = n * sum(op_macs(o, h) for o in self.ops)
        return params * self.num_cells, macs * self.num_cells

    # ── forward ──────────────────────────────────────────────────────────────────────────

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> EncoderOutput:
        mask = attention_mask.unsqueeze(-1).float()
        x = self.dropout(self.project(self.embedding(input_ids))) * mask
        weights = self.edge_weights() if self.searching else None
        s0 = s1 = x
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, mask, weights)
        tokens = s1
        if self.pooling == "max":
            pooled = tokens.masked_fill(mask == 0, float("-inf")).max(1).values
            pooled = torch.where(torch.isfinite(pooled), pooled, torch.zeros_like(pooled))
        else:
            pooled = masked_mean(tokens, attention_mask)
        return EncoderOutput(self.dropout(pooled), tokens, attention_mask)


def anneal(start: float, end: float, progress: float) -> float:
    """The Gumbel-softmax temperature at `progress` (0..1 of the training): geometric."""
    p = min(max(progress, 0.0), 1.0)
    return float(start * (end / start) ** p)
