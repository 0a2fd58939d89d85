"""Extractive reading comprehension: long contexts cut into strided windows, and the best answer
span found back across an example's windows and mapped to character offsets in its context.

Feature building uses the fast tokenizer's overflow + offsets (question first, context second,
only the context truncated), as Hugging Face's reference QA scripts do; answers outside a window
point at the first token ([CLS]), the usual "no answer in this window" target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SpanFeatures:
    """Windows of (question, context) pairs; several per example when the context is long."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    example: np.ndarray
    """Index of the example each window belongs to."""
    offsets: list[list[tuple[int, int] | None]]
    """Character span in the context of each token; None for question and special tokens."""
    start: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    end: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Gold start/end token of each window (0, the [CLS] token, when the answer is not in it)."""

    def __len__(self) -> int:
        return len(self.example)


def build_span_features(
    tokenizer,
    questions: list[str],
    contexts: list[str],
    answers: list[tuple[int, str] | None],
    max_length: int,
    stride: int,
) -> SpanFeatures:
    """Tokenise (question, context) pairs into windows of `max_length` overlapping by `stride`.

    `answers[i]` is (character start, text) of the gold answer used for training, or None at
    prediction time.
    """
    enc = tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_token_type_ids=True,
        padding=False,
    )
    sample = np.asarray(enc["overflow_to_sample_mapping"], dtype=np.int64)
    offsets: list[list[tuple[int, int] | None]] = []
    starts, ends = [], []
    for i in range(len(enc["input_ids"])):
        seq = enc.sequence_ids(i)
        offs = [
            tuple(o) if s == 1 else None for o, s in zip(enc["offset_mapping"][i], seq, strict=True)
        ]
        offsets.append(offs)
        ans = answers[sample[i]]
        st = en = 0
        if ans is not None:
            a_start, text = ans
            a_end = a_start + len(text)
            ctx = [j for j, o in enumerate(offs) if o is not None]
            if ctx and offs[ctx[0]][0] <= a_start and offs[ctx[-1]][1] >= a_end:
                st = next(j for j in ctx if offs[j][1] > a_start)
                en = next(j for j in reversed(ctx) if offs[j][0] < a_end)
        starts.append(st)
        ends.append(en)
    return SpanFeatures(
        [list(x) for x in enc["input_ids"]],
        [list(x) for x in enc["token_type_ids"]],
        sample,
        offsets,
        np.asarray(starts, dtype=np.int64),
        np.asarray(ends, dtype=np.int64),
    )


@dataclass(frozen=True)
class Answer:
    text: str
    start: int
    """Character offset of the answer in the context."""
    end: int
    """Character offset one past the answer's end."""
    score: float


def best_spans(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: list[tuple[int, int] | None],
    context: str,
    n_best: int = 20,
    max_answer_length: int = 30,
) -> list[Answer]:
    """The n best answers of one window: starts and ends among the n best logits, inside the
    context, end not before start, at most `max_answer_length` tokens; best first."""
    n = min(len(offsets), len(start_logits))
    starts = np.argsort(start_logits[:n])[::-1][:n_best]
    ends = np.argsort(end_logits[:n])[::-1][:n_best]
    found: list[Answer] = []
    for s in starts:
        if offsets[s] is None:
            continue
        for e in ends:
            if offsets[e] is None or e < s or e - s + 1 > max_answer_length:
                continue
            c0, c1 = offsets[s][0], offsets[e][1]
            found.append(Answer(context[c0:c1], c0, c1, float(start_logits[s] + end_logits[e])))
    found.sort(key=lambda a: -a.score)
    return found[:n_best]


def decode_examples(
    features: SpanFeatures,
    start_logits: list[np.ndarray],
    end_logits: list[np.ndarray],
    contexts: list[str],
    n_best: int = 20,
    max_answer_length: int = 30,
) -> list[Answer]:
    """One answer per example: the best span over all of its windows (empty if none is valid)."""
    best: dict[int, Answer] = {}
    for i in range(len(features)):
        ex = int(features.example[i])
        cands = best_spans(
            start_logits[i], end_logits[i], features.offsets[i], contexts[ex], n_best,
            max_answer_length,
        )
        if cands and (ex not in best or cands[0].score > best[ex].score):
            best[ex] = cands[0]
    return [best.get(i, Answer("", 0, 0, float("-inf"))) for i in range(len(contexts))]
