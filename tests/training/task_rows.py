"""Synthetic rows for every task type: small, learnable, and shaped like the real data sets
(WNUT-17 tokens/tags, SQuAD question/context/answers, MNLI text_a/text_b)."""

from __future__ import annotations

import random

from training_support import BAD, FILLER, GOOD

PEOPLE = ["alice", "bob", "carol", "dave"]
PLACES = [("new", "york"), ("los", "angeles"), ("hong", "kong")]


def tag_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = rng.sample(FILLER, 4)
        tags = ["O"] * len(words)
        i = rng.randrange(len(words))
        if rng.random() < 0.5:
            words[i:i] = list(rng.choice(PLACES))
            tags[i:i] = ["B-location", "I-location"]
        else:
            words.insert(i, rng.choice(PEOPLE))
            tags.insert(i, "B-person")
        rows.append({"tokens": words, "tags": tags})
    return rows


def span_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        who = rng.choice(PEOPLE)
        before = " ".join(rng.sample(FILLER, 3))
        context = f"{before} and then {who} arrived with the {rng.choice(FILLER)}"
        start = context.index(f"then {who}") + 5
        rows.append({"id": f"q{i}", "question": "who arrived", "context": context,
                     "answers": {"text": [who], "answer_start": [start]}})
    return rows


def pair_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a = rng.sample(FILLER, 4)
        same = rng.random() < 0.5
        b = list(a) if same else rng.sample(GOOD + BAD, 4)
        rng.shuffle(b)
        rows.append({"text_a": " ".join(a), "text_b": " ".join(b),
                     "label": "entailment" if same else "contradiction"})
    return rows
