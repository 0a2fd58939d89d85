"""`meta_teacher`: MetaKD's meta-teacher (Pan et al. 2021, after MetaFT, Wang et al. 2020).

One model trained over every domain:
- each example's task loss is weighted by its typicality (`prototypes.py`): how close its
  pooled feature is to its class's prototype in its own domain (`typicality` = the mix) and in
  the other domains. The features are the first head's first input node's pooled output, view
  `a`, taken inside forward (`graph.extra_forward`) and detached; the labels are that head's.
  Prototypes: during the first epoch, the running means of the features seen so far in it (the
  current batch added before it is weighted); from then on the previous epoch's means
  (`refresh: epoch`) or the first epoch's, kept (`refresh: once`).
- a domain-corruption loss: a domain classifier (`objectives.meta_domain`, boosted and
  checkpointed with the graph) reads the same pooled features, with gradients into the
  encoder, and is trained to predict a random permutation of the batch's domain labels, so the
  features learn to carry no domain; weight `corruption`, logged as `loss.corruption`.

Logged per step: `typicality.mean` and `typicality.min` (the raw mixed cosines of the rows that
have one), `loss.corruption`, and each head's `loss.<head>`. The prototypes (and the counter
seeding the permutations) are method state: `--resume` continues with the same ones.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .base import LossParts, Method, MethodContext, head_losses
from .prototypes import EpochPrototypes, to_weights, typicality_scores

PREFIX = "meta_teacher."
"""Output keys the method's forward hook adds (`meta_teacher.pooled`, `.domain_logits`)."""


def feature_node(ctx: MethodContext) -> tuple[str, str]:
    """(first head, the node whose pooled output is the example's feature)."""
    head = next(iter(ctx.tasks))
    graph = ctx.graph
    node = graph.inputs[head][0] if graph is not None else head
    return head, node


def domain_count(ctx: MethodContext) -> int:
    for data in ctx.train_data:
        if getattr(data, "domains", None):
            return len(data.domains)
    recipe = ctx.recipe
    domains = getattr(getattr(recipe, "data", None), "domains", None)
    return len(domains) if domains else 0


def pooled_and_logits(graph: nn.Module, encoded: dict, node: str, objective: str,
                      pooled_key: str, logits_key: str) -> dict[str, torch.Tensor]:
    """A meta method's forward hook: the node's pooled features (detached, fp32, for the
    prototypes) and the logits of its corruption classifier `graph.objectives[objective]`
    (gradients into the encoder); training only, so evaluation and exports never see them."""
    if not graph.training or (node, "a") not in encoded:
        return {}
    pooled = encoded[(node, "a")].pooled
    logits = graph.objectives[objective](pooled)
    return {pooled_key: pooled.detach().float(), logits_key: logits}


class MetaTeacher(Method):
    def __init__(self, cfg: Any, ctx: MethodContext) -> None:
        super().__init__(cfg, ctx)
        self.head, self.node = feature_node(ctx)
        labels = getattr(ctx.tasks[self.head], "labels", None)
        if not labels:
            raise ValueError(f"method meta_teacher: head '{self.head}' has no class labels "
                             "(the first head must be a classify head)")
        self.n_classes = len(labels)
        self.n_domains = domain_count(ctx)
        if self.n_domains < 2:
            raise ValueError("method meta_teacher: the training rows carry fewer than two "
                             "domains (data.fields.domain, data.domains)")
        self.protos = EpochPrototypes(self.n_classes, self.n_domains, cfg.refresh)
        seed = getattr(getattr(ctx.recipe, "train", None), "seed", 0)
        self.seed = int(seed or 0)
        self.calls = 0
        self._weights: torch.Tensor | None = None
        width = ctx.graph.node_width(self.node) if ctx.graph is not None else None
        self.domain_classifier = (nn.Linear(width, self.n_domains) if width is not None
                                  else None)
        if ctx.graph is not None:
            ctx.graph.extra_forward = self.forward_hook

    def extra_modules(self) -> dict[str, nn.Module]:
        return {} if self.domain_classifier is None else {"meta_domain": self.domain_classifier}

    # ── inside the graph's forward ─────────────────────────────────────────────────────────

    def forward_hook(self, graph: nn.Module, encoded: dict, out: dict,
                     batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The pooled features (detached, fp32) and the domain classifier's logits, training
        only (evaluation and exports never see them)."""
        return pooled_and_logits(graph, encoded, self.node, "meta_domain",
                                 PREFIX + "pooled", PREFIX + "domain_logits")

    # ── the loss ───────────────────────────────────────────────────────────────────────────

    def example_weights(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        return self._weights

    def loss(self, outputs: dict[str, torch.Tensor],
             batch: dict[str, torch.Tensor]) -> LossParts:
        self.calls += 1
        feats = outputs.get(PREFIX + "pooled")
        labels = batch.get(f"{self.head}.label")
        domains = batch.get("domain")
        self._weights = None
        stats: dict[str, torch.Tensor] = {}
        if feats is not None and labels is not None and domains is not None:
            self.protos.observe(feats, labels, domains)
            scores, valid = typicality_scores(feats, labels, domains, self.protos.current,
                                              self.cfg.typicality)
            self._weights = to_weights(scores, valid)
            if bool(valid.any()):
                stats["typicality.mean"] = scores[valid].mean()
                stats["typicality.min"] = scores[valid].min()
        parts = head_losses(self, outputs, batch)
        self._weights = None
        total = parts.total
        logits = outputs.get(PREFIX + "domain_logits")
        if logits is not None:
            corruption = self.corruption_loss(logits, domains)
            total = total + self.cfg.corruption * corruption
            parts.parts["loss.corruption"] = corruption.detach()
        parts.parts.update(stats)
        return LossParts(total, parts.parts)

    def corruption_loss(self, logits: torch.Tensor,
                        domains: torch.Tensor | None) -> torch.Tensor:
        """Cross-entropy of the domain classifier against a random permutation of the rows'
        domains (rows without one are left out; 0 × logits when none has one)."""
        logits = logits.float()
        if domains is None or not bool((domains >= 0).any()):
            return 0.0 * logits.sum()
        keep = (domains >= 0).nonzero().squeeze(1)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.calls)
        shuffled = domains[keep][torch.randperm(len(keep), generator=gen)]
        return F.cross_entropy(logits[keep], shuffled.long())

    # ── epochs and state ───────────────────────────────────────────────────────────────────

    def on_epoch_end(self, epoch: int) -> None:
        self.protos.end_epoch()

    def state_dict(self) -> dict[str, Any]:
        return {"prototypes": self.protos.state_dict(), "calls": self.calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.protos.load_state_dict(state.get("prototypes", {}))
        self.calls = int(state.get("calls", 0))
