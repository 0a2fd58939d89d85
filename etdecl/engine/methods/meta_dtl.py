"""`meta_dtl`: MetaDTL (Wang et al. 2021), MetaFT's meta-learner across tasks whose label sets
differ (e.g. MNLI's three classes and review sentiment's two), one classify head per task over
one shared encoder, each task trained by its own datasets (a batch holds one dataset's rows).

- every example's task loss is weighted by its typicality across tasks
  (`prototypes.task_typicality_scores`): the cosine of its pooled feature to its own class's
  prototype, mixed (`typicality`) with its highest cosine to another task's class prototype:
  an example close to some class of another task carries what the tasks share. Prototypes are
  per (task, class), kept and refreshed as the meta-teacher's are (`refresh`: during the first
  epoch the running means, the current batch included; then the previous epoch's, or the
  first epoch's kept). Scores map to weights as `prototypes.to_weights` does (mean 1).
- a task-corruption loss: a task classifier (`objectives.meta_task`, boosted and checkpointed
  with the graph, left out of exports) reads the same pooled features, with gradients into
  the encoder, and is trained on shuffled task ids, so the features learn to carry no task.
  Each batch holds one task's rows, so shuffling the batch's own ids would change nothing: the
  ids are a random permutation of a balanced pool of every task's id (seeded per step),
  weight `corruption`, logged as `loss.corruption`.

The features are the shared input node's pooled output, view `a`, taken inside forward
(`graph.extra_forward`), detached for the prototypes. Logged per step: `typicality.mean`,
`typicality.min`, `loss.corruption` and each head's `loss.<head>`. The prototypes and the
step counter seeding the shuffles are method state: `--resume` continues with the same ones.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .base import LossParts, Method, MethodContext, head_losses
from .meta_teacher import pooled_and_logits
from .prototypes import EpochPrototypes, task_typicality_scores, to_weights

PREFIX = "meta_dtl."
"""Output keys the method's forward hook adds (`meta_dtl.pooled`, `.task_logits`)."""


class MetaDTL(Method):
    def __init__(self, cfg: Any, ctx: MethodContext) -> None:
        super().__init__(cfg, ctx)
        self.heads = list(ctx.tasks)
        if len(self.heads) < 2:
            raise ValueError("method meta_dtl: it learns across tasks, but the recipe has "
                             f"{len(self.heads)} head")
        self.offsets: dict[str, int] = {}
        owner: list[int] = []
        for t, head in enumerate(self.heads):
            labels = getattr(ctx.tasks[head], "labels", None)
            if not labels:
                raise ValueError(f"method meta_dtl: head '{head}' has no class labels (every "
                                 "head must be a classify head)")
            self.offsets[head] = len(owner)
            owner += [t] * len(labels)
        self.task_of_class = torch.tensor(owner, dtype=torch.long)
        self.protos = EpochPrototypes(len(owner), 1, cfg.refresh)
        graph = ctx.graph
        self.node = graph.inputs[self.heads[0]][0] if graph is not None else self.heads[0]
        seed = getattr(getattr(ctx.recipe, "train", None), "seed", 0)
        self.seed = int(seed or 0)
        self.calls = 0
        self._weights: torch.Tensor | None = None
        width = graph.node_width(self.node) if graph is not None else None
        self.task_classifier = nn.Linear(width, len(self.heads)) if width is not None else None
        if graph is not None:
            graph.extra_forward = self.forward_hook

    def extra_modules(self) -> dict[str, nn.Module]:
        return {} if self.task_classifier is None else {"meta_task": self.task_classifier}

    # ── inside the graph's forward ─────────────────────────────────────────────────────────

    def forward_hook(self, graph: nn.Module, encoded: dict, out: dict,
                     batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The pooled features (detached, fp32) and the task classifier's logits, training
        only (evaluation and exports never see them)."""
        return pooled_and_logits(graph, encoded, self.node, "meta_task",
                                 PREFIX + "pooled", PREFIX + "task_logits")

    # ── the loss ───────────────────────────────────────────────────────────────────────────

    def rows(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(class in the shared index space, task) of each row, from the first head whose
        labels the batch carries; None when it carries none."""
        for t, head in enumerate(self.heads):
            labels = batch.get(f"{head}.label")
            if labels is None:
                continue
            labels = labels.long()
            classes = torch.where(labels >= 0, labels + self.offsets[head],
                                  torch.full_like(labels, -1))
            return classes, torch.full_like(labels, t)
        return None

    def example_weights(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        return self._weights

    def loss(self, outputs: dict[str, torch.Tensor],
             batch: dict[str, torch.Tensor]) -> LossParts:
        self.calls += 1
        feats = outputs.get(PREFIX + "pooled")
        rows = self.rows(batch)
        self._weights = None
        stats: dict[str, torch.Tensor] = {}
        if feats is not None and rows is not None:
            classes, tasks = rows
            self.protos.observe(feats, classes, torch.zeros_like(classes))
            scores, valid = task_typicality_scores(feats, classes, tasks, self.protos.current,
                                                   self.task_of_class, self.cfg.typicality)
            self._weights = to_weights(scores, valid)
            if bool(valid.any()):
                stats["typicality.mean"] = scores[valid].mean()
                stats["typicality.min"] = scores[valid].min()
        parts = head_losses(self, outputs, batch)
        self._weights = None
        total = parts.total
        logits = outputs.get(PREFIX + "task_logits")
        if logits is not None:
            corruption = self.corruption_loss(logits)
            total = total + self.cfg.corruption * corruption
            parts.parts["loss.corruption"] = corruption.detach()
        parts.parts.update(stats)
        return LossParts(total, parts.parts)

    def shuffled_tasks(self, n: int) -> torch.Tensor:
        """n task ids drawn without replacement from a balanced pool (each task's id
        ⌈n / tasks⌉ times), seeded by the run's seed and the step."""
        k = len(self.heads)
        pool = torch.arange(k).repeat(-(-n // k))
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.calls)
        return pool[torch.randperm(len(pool), generator=gen)[:n]]

    def corruption_loss(self, logits: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the task classifier against shuffled task ids."""
        logits = logits.float()
        return F.cross_entropy(logits, self.shuffled_tasks(len(logits)))

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
