"""`span`: extractive reading comprehension (SQuAD-style): the answer is a span of the context.

Rows hold `question`, `context` and, for training and scoring, `answers` as SQuAD writes them
(`{"text": [...], "answer_start": [...]}`); the first answer trains, all answers score. Long
contexts are cut into windows `doc_stride` tokens apart; decoding takes the best span over every
window of an example (n-best starts and ends, at most `max_answer_length` tokens) and maps it
back to character offsets. EM and F1 follow the official SQuAD v1.1 script.
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
from ..recipe.schema_components import SpanHead as SpanConfig
from .base import Example, Features, Task, flat_features, row_text, row_value
from .by_domain import per_domain
from .spans import SpanFeatures, build_span_features, decode_examples
from .squad_metrics import squad_scores


class SpanHead(nn.Module):
    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(width, 2)

    def forward(self, views: dict[str, EncoderOutput]) -> dict[str, torch.Tensor]:
        logits = self.proj(self.dropout(views["a"].tokens))
        mask = views["a"].mask.bool()
        logits = logits.masked_fill(~mask.unsqueeze(-1), -1e4)
        return {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}


class SpanTask(Task):
    kind = "span"
    roles = SpanConfig.ROLES
    target_roles = SpanConfig.TARGET_ROLES
    token_level = SpanConfig.TOKEN_LEVEL
    target_keys = ("start", "end")
    metric_names = SpanConfig.METRICS
    primary_metric = SpanConfig.METRICS[0]

    def read_inputs(self, values: dict[str, Any], file: str, line: int) -> dict[str, Any]:
        return {"question": row_text(values, self.field("question"), "question", file, line),
                "context": row_text(values, self.field("context"), "context", file, line)}

    def read_target(self, values: dict[str, Any], file: str, line: int) -> dict[str, Any]:
        name = self.field("answers")
        raw = row_value(values, name, "answers", file, line)
        context = values.get(self.field("context"), "")
        texts = raw.get("text") if isinstance(raw, dict) else None
        starts = raw.get("answer_start") if isinstance(raw, dict) else None
        if (not isinstance(texts, list) or not isinstance(starts, list) or not texts
                or len(texts) != len(starts)):
            raise DataError(file, line, f"field '{name}' (answers) must be "
                            '{"text": [...], "answer_start": [...]} with one start per text',
                            f"field '{name}' is not SQuAD answers")
        for text, start in zip(texts, starts, strict=True):
            if (not isinstance(start, int) or not isinstance(text, str)
                    or context[start : start + len(text)] != text):
                raise DataError(file, line, f"answer '{text}' is not found at character {start}"
                                " of the context", "answer not at its start offset")
        return {"texts": list(texts), "starts": list(starts)}

    def encode(self, examples: Sequence[Example], tokenizer: Any, max_length: int) -> Features:
        answers = [None if (g := self.gold(e)) is None else (g["starts"][0], g["texts"][0])
                   for e in examples]
        sf = build_span_features(
            tokenizer, [e.inputs["question"] for e in examples],
            [e.inputs["context"] for e in examples], answers, max_length, self.cfg.doc_stride,
        )
        feats = flat_features(sf.input_ids, sf.token_type_ids, sf.example)
        feats.targets[f"{self.name}.start"] = sf.start
        feats.targets[f"{self.name}.end"] = sf.end
        spans = [o if o is not None else (-1, -1) for offs in sf.offsets for o in offs]
        arr = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
        feats.tokens["char_start"], feats.tokens["char_end"] = arr[:, 0], arr[:, 1]
        return feats

    def build_head(self, width: int) -> nn.Module:
        return SpanHead(width, self.cfg.dropout)

    def loss(self, outputs, batch, head) -> torch.Tensor:
        s = F.cross_entropy(outputs["start_logits"].float(), batch[f"{self.name}.start"],
                            reduction="none")
        e = F.cross_entropy(outputs["end_logits"].float(), batch[f"{self.name}.end"],
                            reduction="none")
        return (s + e) / 2

    def gather(self, outputs, batch) -> list[Any]:
        lengths = batch["attention_mask"].sum(1).tolist()
        st, en = outputs["start_logits"].float().numpy(), outputs["end_logits"].float().numpy()
        return [(st[b, :n].copy(), en[b, :n].copy()) for b, n in enumerate(lengths)]

    def decode(self, results, feats, examples) -> list[dict[str, Any]]:
        offsets = []
        for i in range(len(feats)):
            s, e = feats.offsets[i], feats.offsets[i + 1]
            cs, ce = feats.tokens["char_start"][s:e], feats.tokens["char_end"][s:e]
            offsets.append([None if a < 0 else (int(a), int(b)) for a, b in zip(cs, ce,
                                                                              strict=True)])
        sf = SpanFeatures([], [], feats.example, offsets)
        answers = decode_examples(
            sf, [r[0] for r in results], [r[1] for r in results],
            [e.inputs["context"] for e in examples], self.cfg.n_best,
            self.cfg.max_answer_length,
        )
        return [{"answer": a.text, "start": a.start, "end": a.end,
                 "score": round(a.score, 4) if np.isfinite(a.score) else None} for a in answers]

    def metrics(self, predictions, examples) -> dict[str, float]:
        answers = [p["answer"] for p in predictions]
        golds = [self.gold(e)["texts"] for e in examples]
        out = squad_scores(answers, golds)
        out.update(per_domain(
            [e.domain for e in examples],
            lambda sel: squad_scores([answers[i] for i in sel], [golds[i] for i in sel]),
            ("exact_match", "f1")))
        return out
