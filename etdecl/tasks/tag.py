"""`tag`: one label per word (named entities, chunks), BIO or BIOES, with an optional CRF.

Rows hold pre-split words and their tags (CoNLL-style JSON Lines: `tokens` and `tags` lists).
Words are labelled on their first word piece; the CRF runs over word-level sequences built from
first pieces, so its transitions are between words, as the scheme defines them. Words cut off by
`max_length` are predicted `O` and flagged in the prediction.
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
from ..recipe.schema_components import TagHead as TagConfig
from ..recipe.tag_schemes import scheme_problem
from .base import Example, Features, Task, flat_features, row_value
from .by_domain import per_domain
from .crf import CRF
from .tagging import IGNORE, align_to_pieces, entity_scores, transition_masks


class TagHead(nn.Module):
    def __init__(self, width: int, labels: list[str], dropout: float, scheme: str,
                 crf: bool) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(width, len(labels))
        self.crf = CRF(len(labels), *transition_masks(labels, scheme)) if crf else None

    def forward(self, views: dict[str, EncoderOutput]) -> dict[str, torch.Tensor]:
        return {"emissions": self.proj(self.dropout(views["a"].tokens))}


def word_level(values: torch.Tensor, word: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather per-piece rows at first pieces into left-aligned word sequences (+ mask)."""
    first = word >= 0
    n_words = first.sum(1)
    width = max(int(n_words.max()) if len(n_words) else 0, 1)
    out_shape = (values.shape[0], width, *values.shape[2:])
    out = values.new_zeros(out_shape)
    mask = torch.zeros(values.shape[0], width, dtype=torch.bool, device=values.device)
    for b in range(values.shape[0]):
        pos = first[b].nonzero().squeeze(-1)
        out[b, : len(pos)] = values[b, pos]
        mask[b, : len(pos)] = True
    return out, mask


class TagTask(Task):
    kind = "tag"
    roles = TagConfig.ROLES
    target_roles = TagConfig.TARGET_ROLES
    token_level = TagConfig.TOKEN_LEVEL
    target_keys = ("token.tags",)
    metric_names = TagConfig.METRICS
    primary_metric = TagConfig.METRICS[0]

    @property
    def labels(self) -> list[str]:
        return list(self.cfg.labels)

    def read_inputs(self, values: dict[str, Any], file: str, line: int) -> dict[str, Any]:
        name = self.field("tokens")
        words = row_value(values, name, "tokens", file, line)
        if (not isinstance(words, list) or not words
                or not all(isinstance(w, str) and w for w in words)):
            raise DataError(file, line, f"field '{name}' (tokens) must be a non-empty list of "
                            "non-empty strings", f"field '{name}' is not a list of words")
        return {"tokens": words}

    def read_target(self, values: dict[str, Any], file: str, line: int) -> list[int]:
        name = self.field("tags")
        tags = row_value(values, name, "tags", file, line)
        words = values.get(self.field("tokens"))
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise DataError(file, line, f"field '{name}' (tags) must be a list of strings",
                            f"field '{name}' is not a list of tags")
        if isinstance(words, list) and len(words) != len(tags):
            raise DataError(file, line, f"{len(words)} words but {len(tags)} tags",
                            "word and tag counts differ")
        labels = self.labels
        unknown = sorted({t for t in tags if t not in labels})
        if unknown:
            raise DataError(file, line, f"tag '{unknown[0]}' is not one of the head's labels "
                            f"({', '.join(labels)})",
                            "tag not among the head's labels")
        problem = scheme_problem(tags, self.cfg.scheme)
        if problem:
            raise DataError(file, line, f"{problem} (head '{self.name}' declares scheme: "
                            f"{self.cfg.scheme})", "tags break the scheme")
        return [labels.index(t) for t in tags]

    def encode(self, examples: Sequence[Example], tokenizer: Any, max_length: int) -> Features:
        rows, types, tags, word = [], [], [], []
        for start in range(0, len(examples), 1024):
            part = examples[start : start + 1024]
            enc = tokenizer([e.inputs["tokens"] for e in part], is_split_into_words=True,
                            truncation=True, max_length=max_length, return_token_type_ids=True,
                            return_attention_mask=False)
            for i, e in enumerate(part):
                ids = enc.word_ids(i)
                gold = self.gold(e)
                if gold is None:
                    gold = [IGNORE] * len(e.inputs["tokens"])
                tags.extend(align_to_pieces(ids, gold))
                prev = None
                for w in ids:
                    word.append(-1 if w is None or w == prev else w)
                    prev = w
            rows.extend(enc["input_ids"])
            types.extend(enc["token_type_ids"])
        feats = flat_features(rows, types, range(len(examples)))
        feats.tokens["tags"] = np.asarray(tags, dtype=np.int64)
        feats.tokens["word"] = np.asarray(word, dtype=np.int64)
        return feats

    def build_head(self, width: int) -> nn.Module:
        return TagHead(width, self.labels, self.cfg.dropout, self.cfg.scheme, self.cfg.crf)

    def loss(self, outputs, batch, head) -> torch.Tensor:
        em = outputs["emissions"].float()
        tags = batch[f"{self.name}.token.tags"]
        if head.crf is not None:
            words, mask = word_level(em, batch[f"{self.name}.token.word"])
            gold, _ = word_level(tags.unsqueeze(-1), batch[f"{self.name}.token.word"])
            return head.crf(words, gold.squeeze(-1), mask)
        per_token = F.cross_entropy(em.transpose(1, 2), tags, ignore_index=IGNORE,
                                    reduction="none")
        counted = (tags != IGNORE).sum(1).clamp_min(1)
        return per_token.sum(1) / counted

    def eval_outputs(self, outputs, batch, head) -> dict[str, torch.Tensor]:
        """The best word-level tag path, padded with -1 (Viterbi when the head has a CRF)."""
        words, mask = word_level(outputs["emissions"].float(), batch[f"{self.name}.token.word"])
        if head.crf is None:
            return {"path": words.argmax(-1).masked_fill(~mask, -1)}
        path = torch.full(mask.shape, -1, dtype=torch.long)
        for b, tags in enumerate(head.crf.decode(words, mask)):
            path[b, : len(tags)] = torch.tensor(tags, dtype=torch.long)
        return {"path": path}

    def gather(self, outputs, batch) -> list[Any]:
        return [[t for t in row if t >= 0] for row in outputs["path"].tolist()]

    def decode(self, results, feats, examples) -> list[dict[str, Any]]:
        labels = self.labels
        out = []
        for path, e in zip(results, examples, strict=True):
            n = len(e.inputs["tokens"])
            tags = [labels[i] for i in path] + ["O"] * (n - len(path))
            out.append({"tokens": e.inputs["tokens"], "tags": tags,
                        "truncated_words": n - len(path)})
        return out

    def metrics(self, predictions, examples) -> dict[str, float]:
        gold = [[self.labels[i] for i in self.gold(e)] for e in examples]
        pred = [p["tags"] for p in predictions]
        out = entity_scores(gold, pred, self.cfg.scheme)
        out.update(per_domain(  # f1[TYPE] is per entity type; recipe checks keep names apart
            [e.domain for e in examples],
            lambda sel: entity_scores([gold[i] for i in sel], [pred[i] for i in sel],
                                      self.cfg.scheme), ("f1",)))
        return out
