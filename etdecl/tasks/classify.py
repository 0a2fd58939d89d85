"""`classify`: one label per single text or text pair; `match`: pairs, as a cross-encoder or a
siamese bi-encoder.

Metrics come from scikit-learn: accuracy, macro-F1, ROC-AUC for two classes, and accuracy and
macro-F1 per domain when the data has domains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..components.outputs import EncoderOutput
from ..datafiles.readers import DataError
from ..recipe.schema_components import ClassifyHead, MatchHead
from .base import Example, Features, Task, flat_features, label_name, row_text, row_value
from .by_domain import per_domain


class LinearHead(nn.Module):
    """Dropout then a linear layer over the pooled vector."""

    def __init__(self, width: int, n_out: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(width, n_out)

    def forward(self, views: dict[str, EncoderOutput]) -> dict[str, torch.Tensor]:
        return {"logits": self.proj(self.dropout(views["a"].pooled))}


def label_metrics(gold: np.ndarray, pred: np.ndarray, probs: np.ndarray,
                  domains: Sequence[str | None]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    out = {
        "accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
    }
    if probs.shape[1] == 2:
        out["f1"] = float(f1_score(gold, pred, average="binary", zero_division=0))
        out["roc_auc"] = (float(roc_auc_score(gold, probs[:, 1]))
                          if len(set(gold.tolist())) == 2 else float("nan"))
    def scored(sel: np.ndarray) -> dict[str, float]:
        return {"accuracy": accuracy_score(gold[sel], pred[sel]),
                "macro_f1": f1_score(gold[sel], pred[sel], average="macro", zero_division=0)}

    out.update(per_domain(domains, scored, ("accuracy", "macro_f1")))
    return out


class ClassifyTask(Task):
    kind = "classify"
    roles = ClassifyHead.ROLES
    target_roles = ClassifyHead.TARGET_ROLES
    metric_names = ClassifyHead.METRICS
    primary_metric = ClassifyHead.METRICS[0]

    @property
    def labels(self) -> list[str]:
        return list(self.cfg.labels)

    @property
    def pair(self) -> bool:
        return getattr(self.fields, "text_pair", None) is not None

    def input_fields(self) -> dict[str, str]:
        out = super().input_fields()
        if self.pair:
            out["text_pair"] = self.field("text_pair")
        return out

    def read_inputs(self, values: dict[str, Any], file: str, line: int) -> dict[str, Any]:
        out = {"text": row_text(values, self.field("text"), "text", file, line)}
        if self.pair:
            out["text_pair"] = row_text(values, self.fields.text_pair, "text_pair", file, line)
        return out

    def read_target(self, values: dict[str, Any], file: str, line: int) -> int:
        raw = label_name(row_value(values, self.field("label"), "label", file, line))
        labels = self.labels
        if raw not in labels:
            raise DataError(file, line,
                            f"label '{raw}' is not one of the head's labels "
                            f"({', '.join(labels)})", "label not among the head's labels")
        return labels.index(raw)

    def encode(self, examples: Sequence[Example], tokenizer: Any, max_length: int) -> Features:
        rows, types = [], []
        for start in range(0, len(examples), 1024):
            part = examples[start : start + 1024]
            pairs = [e.inputs["text_pair"] for e in part] if self.pair else None
            enc = tokenizer([e.inputs["text"] for e in part], pairs, truncation=True,
                            max_length=max_length, return_token_type_ids=True,
                            return_attention_mask=False)
            rows.extend(enc["input_ids"])
            types.extend(enc["token_type_ids"])
        feats = flat_features(rows, types, range(len(examples)))
        self.add_targets(feats, examples)
        return feats

    def add_targets(self, feats: Features, examples: Sequence[Example]) -> None:
        feats.targets[f"{self.name}.label"] = np.asarray(
            [-1 if self.gold(e) is None else self.gold(e) for e in examples], dtype=np.int64)

    def build_head(self, width: int) -> nn.Module:
        return LinearHead(width, len(self.labels), self.cfg.dropout)

    def loss(self, outputs, batch, head) -> torch.Tensor:
        return F.cross_entropy(outputs["logits"].float(), batch[f"{self.name}.label"],
                               reduction="none")

    def gather(self, outputs, batch) -> list[Any]:
        return list(torch.softmax(outputs["logits"].float(), -1).numpy())

    def decode(self, results, feats, examples) -> list[dict[str, Any]]:
        labels = self.labels
        return [{"label": labels[int(np.argmax(p))],
                 "probabilities": {lab: round(float(q), 6) for lab, q in zip(labels, p,
                                                                            strict=True)}}
                for p in results]

    def metrics(self, predictions, examples) -> dict[str, float]:
        index = {lab: i for i, lab in enumerate(self.labels)}
        pred = np.asarray([index[p["label"]] for p in predictions])
        probs = np.asarray([[p["probabilities"][lab] for lab in self.labels]
                            for p in predictions])
        gold = np.asarray([self.gold(e) for e in examples])
        return label_metrics(gold, pred, probs, [e.domain for e in examples])


class SiameseHead(nn.Module):
    """Both texts encoded alone; features [u; v; |u−v|; u∗v] → linear, or a scaled cosine."""

    def __init__(self, width: int, n_out: int, dropout: float, similarity: str) -> None:
        super().__init__()
        self.similarity = similarity
        self.dropout = nn.Dropout(dropout)
        if similarity == "cosine":
            self.scale = nn.Parameter(torch.tensor(10.0))
            self.bias = nn.Parameter(torch.tensor(0.0))
        else:
            self.proj = nn.Linear(4 * width, n_out)

    def forward(self, views: dict[str, EncoderOutput]) -> dict[str, torch.Tensor]:
        u, v = views["a"].pooled, views["b"].pooled
        if self.similarity == "cosine":
            score = self.scale * F.cosine_similarity(u, v, dim=-1) + self.bias
            return {"logits": torch.stack([-score / 2, score / 2], -1)}
        feats = torch.cat([u, v, (u - v).abs(), u * v], -1)
        return {"logits": self.proj(self.dropout(feats))}


class MatchTask(ClassifyTask):
    """Text-pair matching (paraphrase, NLI, retrieval relevance)."""

    kind = "match"
    roles = MatchHead.ROLES
    metric_names = MatchHead.METRICS
    primary_metric = MatchHead.METRICS[0]

    @property
    def pair(self) -> bool:
        return True

    def field(self, role: str) -> str:
        return getattr(self.fields, role, None) or role

    def read_inputs(self, values: dict[str, Any], file: str, line: int) -> dict[str, Any]:
        return {"text": row_text(values, self.field("text"), "text", file, line),
                "text_pair": row_text(values, self.field("text_pair"), "text_pair", file, line)}

    def encode(self, examples: Sequence[Example], tokenizer: Any, max_length: int) -> Features:
        if self.cfg.mode == "cross":
            return super().encode(examples, tokenizer, max_length)
        sides = []
        for role in ("text", "text_pair"):
            enc = tokenizer([e.inputs[role] for e in examples], truncation=True,
                            max_length=max_length, return_token_type_ids=True,
                            return_attention_mask=False)
            sides.append(flat_features(enc["input_ids"], enc["token_type_ids"],
                                       range(len(examples))))
        feats, other = sides
        feats.views["b"] = other
        self.add_targets(feats, examples)
        return feats

    def build_head(self, width: int) -> nn.Module:
        if self.cfg.mode == "cross":
            return super().build_head(width)
        return SiameseHead(width, len(self.labels), self.cfg.dropout, self.cfg.similarity)
