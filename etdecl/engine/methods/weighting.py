"""Per-example weights of a distillation (`method.weighting` of `distill`).

`domain_expertise` (MetaKD, Pan et al. 2021): an example counts as much as the teacher knows
its domain: the teacher's probability of the true label times the typicality weight of the
teacher's pooled feature (`prototypes.py`: mixed cosine to its class prototype in its own
domain and in the others, mapped to (1 + t) / 2). The prototypes are running class × domain
means of the teacher's pooled features, updated from every batch's teacher outputs before the
batch is weighted: the teacher is frozen, so they converge within the first epoch, and no
extra pass over the data is needed. The product is normalised to mean 1 over the batch's rows
that have a label and a domain, clipped to [0.05, 5] and normalised again; other rows weigh 1.

Interface (the `distill` method calls it): `make_weigher(cfg, ctx) -> Weigher`;
`Weigher.weights(batch, teacher_out) -> Tensor[B]`, where teacher_out holds
`<teacher>.<head>.logits` and `<teacher>.pooled` (fp32); `state_dict()/load_state_dict()`
(plain lists, for state.json).
"""

from __future__ import annotations

from typing import Any

import torch

from .base import MethodContext
from .meta_teacher import domain_count
from .prototypes import Prototypes, typicality_scores

CLIP = (0.05, 5.0)
"""Range of the normalised weights."""
MIX = 0.5
"""Own-domain share of the typicality, unless the method config has `typicality`."""


class Weigher:
    """No weighting: every example 1."""

    def weights(self, batch: dict[str, torch.Tensor],
                teacher_out: dict[str, torch.Tensor]) -> torch.Tensor:
        n = next(iter(batch.values())).shape[0]
        return torch.ones(n)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def _teacher_heads(cfg: Any, ctx: MethodContext) -> tuple[str | None, dict[str, str]]:
    """(the teacher whose outputs weigh, student head → its head): the recipe's first teacher
    with a logits objective (else its first teacher); heads mapped by the logits objective's
    `heads`, else by name."""
    teachers = dict(getattr(ctx.recipe, "teachers", None) or {})
    if not teachers:
        return None, {}
    name = next((n for n, t in teachers.items() if t.objectives.logits is not None),
                next(iter(teachers)))
    logits = teachers[name].objectives.logits
    mapping = dict(logits.heads) if logits is not None and logits.heads else {}
    return name, mapping


class DomainExpertise(Weigher):
    def __init__(self, cfg: Any, ctx: MethodContext, teacher: str | None = None,
                 heads: dict[str, str] | None = None) -> None:
        found, mapping = _teacher_heads(cfg, ctx)
        self.teacher = teacher or found
        self.heads = heads if heads is not None else mapping
        self.mix = float(getattr(cfg, "typicality", MIX))
        self.tasks = ctx.tasks
        self.n_domains = max(1, domain_count(ctx))
        self.protos: dict[str, Prototypes] = {}
        """Student head → running prototypes of the teacher's pooled features."""

    def _head(self, batch: dict[str, torch.Tensor]) -> str | None:
        """The first student head with class labels whose targets this batch carries."""
        for name, task in self.tasks.items():
            if getattr(task, "labels", None) and f"{name}.label" in batch:
                return name
        return None

    def _logits(self, head: str, teacher_out: dict[str, torch.Tensor]) -> torch.Tensor | None:
        key = f"{self.teacher}.{self.heads.get(head, head)}.logits"
        if key in teacher_out:
            return teacher_out[key]
        mine = [k for k in teacher_out
                if k.startswith(f"{self.teacher}.") and k.endswith(".logits")]
        return teacher_out[mine[0]] if len(mine) == 1 else None

    def weights(self, batch: dict[str, torch.Tensor],
                teacher_out: dict[str, torch.Tensor]) -> torch.Tensor:
        n = next(iter(batch.values())).shape[0]
        out = torch.ones(n)
        head = self._head(batch)
        pooled = teacher_out.get(f"{self.teacher}.pooled")
        domains = batch.get("domain")
        if head is None or pooled is None or domains is None:
            return out
        logits = self._logits(head, teacher_out)
        if logits is None:
            return out
        labels = batch[f"{head}.label"]
        n_classes = logits.shape[-1]
        protos = self.protos.setdefault(head, Prototypes(n_classes, self.n_domains))
        protos.update(pooled, labels, domains)
        scores, valid = typicality_scores(pooled, labels, domains, protos, self.mix)
        if not bool(valid.any()):
            return out
        probs = torch.softmax(logits.detach().float(), -1)
        rows = valid.nonzero().squeeze(1)
        p_true = probs[rows, labels[rows].long()]
        typical = ((1.0 + scores[rows]) / 2.0).clamp_min(0.01)
        w = p_true * typical
        w = w / w.mean().clamp_min(1e-12)
        w = w.clamp(*CLIP)
        out[rows] = w / w.mean()
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"prototypes": {h: p.state_dict() for h, p in self.protos.items()},
                "classes": {h: p.n_classes for h, p in self.protos.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.protos = {}
        for head, proto in (state or {}).get("prototypes", {}).items():
            p = Prototypes(int(state["classes"][head]), self.n_domains)
            p.load_state_dict(proto)
            self.protos[head] = p


def make_weigher(cfg: Any, ctx: MethodContext) -> Weigher:
    """The weigher of `cfg.weighting` (`none`: every example 1)."""
    kind = getattr(cfg, "weighting", "none")
    if kind == "domain_expertise":
        return DomainExpertise(cfg, ctx)
    return Weigher()
