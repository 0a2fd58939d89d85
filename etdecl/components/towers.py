"""Towers: nodes between encoders and heads for feature-based transfer (FullyShared,
SharedPrivate (-Adv) and DRSS (-Adv) of the EasyTransfer paper).

A tower's `forward(ctx)` reads other nodes through `ctx` (lazily, so private full copies never
run the encoder they copy unless another node needs it) and returns its `EncoderOutput` plus
its extra losses by part name, already weighted (empty outside training). Private and DRSS
towers route each row of a batch by `batch["domain"]`, an id into the recipe's `data.domains`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .outputs import EncoderOutput, masked_mean
from .small_encoders import BiLSTM, TextCNN
from .tower_parts import DomainDiscriminator, DomainRelations, orthogonality_penalty

Losses = dict[str, torch.Tensor]


@dataclass
class TowerContext:
    """What a tower may read while the graph evaluates one view of a batch."""

    read: Callable[[str], EncoderOutput]
    """Node name → its output on this view (evaluated once, on demand)."""
    ids: Callable[[str], tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]
    """Encoder name → (input_ids, attention_mask, token_type_ids) of this view."""
    batch: dict[str, torch.Tensor]
    progress: float = 0.0
    """Training progress 0..1 (the DANN schedule reads it)."""


def row_domains(name: str, batch: dict[str, torch.Tensor], count: int) -> torch.Tensor:
    """Each row's domain id, refusing rows that cannot be routed (no domain, or outside
    `data.domains`): the tower's output width is fixed, so such a row has no place to go."""
    domain = batch.get("domain")
    if domain is None or bool((domain < 0).any()):
        missing = len(batch["input_ids"]) if domain is None else int((domain < 0).sum())
        raise ValueError(f"tower '{name}' routes each row by its domain, but {missing} row(s) "
                         "of this batch have none; give the data a domain field "
                         "(data.fields.domain) or its dataset a `domain:`")
    if bool((domain >= count).any()):
        raise ValueError(f"tower '{name}': domain id {int(domain.max())} is not among the "
                         f"{count} of data.domains")
    return domain


def _touch(module: nn.Module, like: torch.Tensor) -> torch.Tensor:
    """0 × every parameter: a domain missing from the batch still takes part in the step
    (data-parallel plugins require every parameter to receive a gradient)."""
    return sum((0.0 * p.sum() for p in module.parameters() if p.requires_grad),
               torch.zeros((), dtype=like.dtype))


def route(name: str, parts: nn.ModuleList, ctx: TowerContext, count: int, mask: torch.Tensor,
          width: int, run: Callable[[nn.Module, torch.Tensor], EncoderOutput],
          training: bool) -> EncoderOutput:
    """Run each domain's module on its own rows (index_select), scatter the results back."""
    domain = row_domains(name, ctx.batch, count)
    rows, steps = mask.shape
    pooled = tokens = None
    zero = None
    for d, part in enumerate(parts):
        idx = (domain == d).nonzero(as_tuple=True)[0]
        if len(idx) == 0:
            if training:
                z = _touch(part, mask.new_zeros((), dtype=torch.float32))
                zero = z if zero is None else zero + z
            continue
        out = run(part, idx)
        if pooled is None:
            pooled = out.pooled.new_zeros(rows, width)
            tokens = out.tokens.new_zeros(rows, steps, width)
        pooled = pooled.index_copy(0, idx, out.pooled.to(pooled.dtype))
        tokens = tokens.index_copy(0, idx, out.tokens.to(tokens.dtype))
    assert pooled is not None and tokens is not None
    if zero is not None:
        pooled = pooled + zero.to(pooled.dtype)
    return EncoderOutput(pooled, tokens, mask)


class _Embedded(nn.Module):
    """Stands in for a small encoder's embedding table: its input already is embeddings."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.embedding_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def small_encoder(cfg: Any, dim: int) -> nn.Module:
    """A TextCNN or BiLSTM reading embedding vectors (the shared encoder's embedding output)."""
    if cfg.type == "textcnn":
        return TextCNN(_Embedded(dim), list(cfg.widths), cfg.channels, cfg.dropout)  # type: ignore[arg-type]
    return BiLSTM(_Embedded(dim), cfg.hidden, cfg.layers, cfg.dropout)  # type: ignore[arg-type]


def bert_layers(encoder: nn.Module) -> nn.ModuleList:
    """The transformer layers of a BERT-family backbone (bert, roberta, electra, ...)."""
    layers = getattr(getattr(encoder.backbone, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        kind = getattr(encoder.backbone.config, "model_type", type(encoder.backbone).__name__)
        raise ValueError(f"copy: top needs a BERT-family encoder with encoder.layer; "
                         f"'{kind}' has none")
    return layers


class SharedTower(nn.Module):
    def __init__(self, name: str, source: str, width: int) -> None:
        super().__init__()
        self.name, self.source, self.hidden_size = name, source, width

    def forward(self, ctx: TowerContext) -> tuple[EncoderOutput, Losses]:
        return ctx.read(self.source), {}


class PrivateTower(nn.Module):
    """One module per domain: full encoder copies, top-layer copies, or small encoders."""

    routes_by_domain = True

    def __init__(self, name: str, source: str, mode: str, encoder: nn.Module,
                 domains: list[str], top_layers: int = 1, small: Any = None) -> None:
        super().__init__()
        self.name, self.source, self.mode = name, source, mode
        self.domains = list(domains)
        self._encoder = (encoder,)  # read, never owned: its parameters belong to `encoders`
        if mode == "full":
            self.parts = nn.ModuleList(copy.deepcopy(encoder) for _ in domains)
            self.hidden_size = encoder.hidden_size
        elif mode == "top":
            layers = bert_layers(encoder)
            if not 0 < top_layers < len(layers):
                raise ValueError(f"top_layers must be between 1 and {len(layers) - 1}")
            self.first = len(layers) - top_layers
            self.parts = nn.ModuleList(
                nn.ModuleList(copy.deepcopy(layer) for layer in layers[self.first:])
                for _ in domains)
            self.hidden_size = encoder.hidden_size
            encoder.want_hidden_states = True
        else:
            self.parts = nn.ModuleList(small_encoder(small, encoder.hidden_size)
                                       for _ in domains)
            self.hidden_size = self.parts[0].hidden_size
            encoder.want_hidden_states = True

    def _top(self, layers: nn.ModuleList, states: torch.Tensor,
             mask: torch.Tensor) -> EncoderOutput:
        extended = (1.0 - mask[:, None, None, :].to(states.dtype)) * torch.finfo(states.dtype).min
        for layer in layers:
            states = layer(states, attention_mask=extended)[0]
        enc = self._encoder[0]
        pool = getattr(enc, "pool", None)
        pooled = pool(states, mask) if pool is not None else masked_mean(states, mask)
        return EncoderOutput(pooled, states, mask)

    def forward(self, ctx: TowerContext) -> tuple[EncoderOutput, Losses]:
        count = len(self.domains)
        if self.mode == "full":
            ids, mask, types = ctx.ids(self.source)

            def run(part: nn.Module, idx: torch.Tensor) -> EncoderOutput:
                return part(ids[idx], mask[idx], None if types is None else types[idx])
        else:
            shared = ctx.read(self.source)
            mask = shared.mask
            if shared.hidden_states is None:
                raise ValueError(f"tower '{self.name}' needs the hidden states of encoder "
                                 f"'{self.source}'")
            if self.mode == "top":
                states = shared.hidden_states[self.first]

                def run(part: nn.Module, idx: torch.Tensor) -> EncoderOutput:
                    return self._top(part, states[idx], mask[idx])  # type: ignore[arg-type]
            else:
                # padding zeroed, as a small encoder's own padding embedding is: a row's
                # output then does not depend on how far its batch is padded
                embedded = shared.hidden_states[0] * mask.unsqueeze(-1).to(
                    shared.hidden_states[0].dtype)

                def run(part: nn.Module, idx: torch.Tensor) -> EncoderOutput:
                    return part(embedded[idx], mask[idx])
        out = route(self.name, self.parts, ctx, count, mask, self.hidden_size, run,
                    self.training)
        if self.training:
            # the encoder's copied layers (all of them, for full copies; all but the
            # embeddings, for small ones) may be read by nothing else; they still take part
            zero = _touch(self._encoder[0], out.pooled.new_zeros((), dtype=torch.float32))
            out = EncoderOutput(out.pooled + zero.to(out.pooled.dtype), out.tokens, out.mask)
        return out, {}


def _discriminator(cfg: Any, width: int, domains: int) -> DomainDiscriminator | None:
    if cfg is None:
        return None
    return DomainDiscriminator(width, cfg.hidden, domains, cfg.schedule, cfg.gamma)


def _adversarial_loss(disc: DomainDiscriminator, weight: float, features: torch.Tensor,
                      ctx: TowerContext) -> torch.Tensor:
    domain = ctx.batch.get("domain")
    if domain is None or not bool((domain >= 0).any()):
        return 0.0 * sum(p.sum() for p in disc.parameters()) + 0.0 * features.sum()
    keep = domain >= 0
    return weight * disc.loss(features[keep], domain[keep], ctx.progress)


class SharedPrivateTower(nn.Module):
    """[shared; private], with an optional adversary on the shared part and orthogonality."""

    def __init__(self, name: str, shared: str, private: str, widths: tuple[int, int],
                 domains: list[str], adversarial: Any = None, orthogonality: float = 0.0) -> None:
        super().__init__()
        self.name, self.shared, self.private = name, shared, private
        self.hidden_size = widths[0] + widths[1]
        self.discriminator = _discriminator(adversarial, widths[0], len(domains))
        self.adv_weight = adversarial.weight if adversarial is not None else 0.0
        self.orthogonality = orthogonality

    def forward(self, ctx: TowerContext) -> tuple[EncoderOutput, Losses]:
        s, p = ctx.read(self.shared), ctx.read(self.private)
        out = EncoderOutput(torch.cat([s.pooled, p.pooled.to(s.pooled.dtype)], -1),
                            torch.cat([s.tokens, p.tokens.to(s.tokens.dtype)], -1), s.mask)
        losses: Losses = {}
        if self.training:
            if self.discriminator is not None:
                losses["adversarial"] = _adversarial_loss(self.discriminator, self.adv_weight,
                                                          s.pooled, ctx)
            if self.orthogonality > 0:
                losses["orthogonality"] = self.orthogonality * orthogonality_penalty(
                    s.pooled, p.pooled)
        return out, losses


class DRSSTower(nn.Module):
    """[shared; tanh(W_d shared)] with the domain-relationship regulariser (and adversary)."""

    routes_by_domain = True

    def __init__(self, name: str, shared: str, width: int, out: int, domains: list[str],
                 weight: float, adversarial: Any = None) -> None:
        super().__init__()
        self.name, self.shared, self.domains = name, shared, list(domains)
        self.relations = DomainRelations(width, out, len(domains))
        self.weight = weight
        self.hidden_size = width + out
        self.discriminator = _discriminator(adversarial, width, len(domains))
        self.adv_weight = adversarial.weight if adversarial is not None else 0.0

    def forward(self, ctx: TowerContext) -> tuple[EncoderOutput, Losses]:
        s = ctx.read(self.shared)
        domain = row_domains(self.name, ctx.batch, len(self.domains))
        pooled = torch.cat([s.pooled, self.relations.project(s.pooled, domain)], -1)
        tokens = torch.cat([s.tokens, self.relations.project(s.tokens, domain)], -1)
        losses: Losses = {}
        if self.training:
            self.relations.update_omega()
            if self.weight > 0:
                losses["relations"] = self.weight * self.relations.regulariser()
            if self.discriminator is not None:
                losses["adversarial"] = _adversarial_loss(self.discriminator, self.adv_weight,
                                                          s.pooled, ctx)
        return EncoderOutput(pooled, tokens, s.mask), losses
