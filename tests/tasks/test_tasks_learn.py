"""Each task end to end on synthetic rows with a small BiLSTM: rows → targets → features →
batches → head → per-example loss that falls → decoded predictions → metrics above chance."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from etdecl.components.small_encoders import BiLSTM, make_embedding
from etdecl.data.collate import collate
from etdecl.datafiles.readers import DataError
from etdecl.tasks.base import Example
from etdecl.tasks.classify import ClassifyTask, MatchTask
from etdecl.tasks.span import SpanTask
from etdecl.tasks.tag import TagTask
from tests.tasks.tiny_tokenizer import word_tokenizer

WORDS = [f"w{i}" for i in range(30)] + ["good", "new", "york", "alice", "at", "where"]
FIELDS = SimpleNamespace(text="text", text_pair=None, label="label", tokens="tokens",
                         tags="tags", question="question", context="context", answers="answers",
                         domain=None)


def _rows(kind: str, n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = [rng.choice(WORDS[:30]) for _ in range(rng.randint(4, 9))]
        if kind == "classify":
            pos = rng.random() < 0.5
            if pos:
                words.insert(rng.randrange(len(words)), "good")
            rows.append({"text": " ".join(words), "label": "pos" if pos else "neg"})
        elif kind == "match":
            same = rng.random() < 0.5  # a pair matches when it is the same text
            other = list(words) if same else [rng.choice(WORDS[:30]) for _ in words]
            rows.append({"text": " ".join(words), "text_pair": " ".join(other),
                         "label": "yes" if same else "no"})
        elif kind == "tag":
            tags = ["O"] * len(words)
            i = rng.randrange(len(words) - 1)
            if rng.random() < 0.5:
                words[i : i + 2], tags[i : i + 2] = ["new", "york"], ["B-LOC", "I-LOC"]
            else:
                words[i], tags[i] = "alice", "B-PER"
            rows.append({"tokens": words, "tags": tags})
        else:
            i = rng.randrange(1, len(words))
            words.insert(i, "at")
            context = " ".join(words)
            answer = words[i + 1] if i + 1 < len(words) else None
            if answer is None:
                words.append("w0")
                context, answer = " ".join(words), "w0"
            start = len(" ".join(words[: i + 1])) + 1
            rows.append({"question": "where", "context": context,
                         "answers": {"text": [answer], "answer_start": [start]}})
    return rows


def _task(kind: str):
    if kind == "classify":
        return ClassifyTask("h", SimpleNamespace(labels=["neg", "pos"], dropout=0.0), FIELDS)
    if kind == "match":
        fields = SimpleNamespace(**{**vars(FIELDS), "text_pair": "text_pair"})
        cfg = SimpleNamespace(labels=["no", "yes"], dropout=0.0, mode="siamese",
                              similarity="concat")
        return MatchTask("h", cfg, fields)
    if kind == "tag":
        cfg = SimpleNamespace(labels=["O", "B-LOC", "I-LOC", "B-PER"], dropout=0.0,
                              scheme="bio", crf=True)
        return TagTask("h", cfg, FIELDS)
    return SpanTask("h", SimpleNamespace(dropout=0.0, doc_stride=4, max_answer_length=3,
                                         n_best=5), FIELDS)


def _examples(task, rows: list[dict]) -> list[Example]:
    return [Example("main", i, task.read_inputs(r, "f.jsonl", i + 1),
                    {"h": task.read_target(r, "f.jsonl", i + 1)}, None, "f.jsonl", i + 1)
            for i, r in enumerate(rows)]


@pytest.mark.parametrize(("kind", "metric", "floor"), [
    ("classify", "accuracy", 0.9), ("match", "accuracy", 0.8), ("tag", "f1", 0.8),
    ("span", "exact_match", 60.0),
])
def test_task_learns(kind: str, metric: str, floor: float) -> None:
    torch.manual_seed(0)
    tok = word_tokenizer(WORDS)
    task = _task(kind)
    train, dev = _examples(task, _rows(kind, 192, 1)), _examples(task, _rows(kind, 64, 2))
    ftrain, fdev = task.encode(train, tok, 16), task.encode(dev, tok, 16)
    enc = BiLSTM(make_embedding(len(tok), 32, 0, None, False), 32, 1, 0.0)
    head = task.build_head(enc.hidden_size)
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=1e-2)

    def run(batch):
        views = {"a": enc(batch["input_ids"], batch["attention_mask"])}
        if "input_ids_b" in batch:
            views["b"] = enc(batch["input_ids_b"], batch["attention_mask_b"])
        return head(views)

    losses = []
    rng = np.random.default_rng(0)
    for _ in range(8):
        order = rng.permutation(len(ftrain))
        for b in range(0, len(order), 32):
            batch = collate(ftrain, order[b : b + 32], 0, [task])
            loss = task.loss(run(batch), batch, head)
            assert loss.shape == (len(order[b : b + 32]),)
            opt.zero_grad()
            loss.mean().backward()
            opt.step()
            losses.append(loss.mean().item())
    assert np.mean(losses[-8:]) < 0.5 * np.mean(losses[:8])
    enc.eval()
    head.eval()
    results = []
    with torch.no_grad():
        for b in range(0, len(fdev), 16):
            batch = collate(fdev, np.arange(b, min(b + 16, len(fdev))), 0, [task])
            out = run(batch)
            out.update(task.eval_outputs(out, batch, head))
            results.extend(task.gather(out, batch))
    preds = task.decode(results, fdev, dev)
    assert len(preds) == len(dev)
    scores = task.metrics(preds, dev)
    assert scores[metric] >= floor, scores


def test_bad_rows_are_located() -> None:
    tag = _task("tag")
    with pytest.raises(DataError, match="f.jsonl:3: .*cannot follow 'O'"):
        tag.read_target({"tokens": ["a", "b"], "tags": ["O", "I-LOC"]}, "f.jsonl", 3)
    with pytest.raises(DataError, match="2 words but 1 tags"):
        tag.read_target({"tokens": ["a", "b"], "tags": ["O"]}, "f.jsonl", 3)
    span = _task("span")
    with pytest.raises(DataError, match="not found at character 2"):
        span.read_target({"context": "abc def", "answers": {"text": ["def"],
                                                            "answer_start": [2]}}, "f", 1)
    cls = _task("classify")
    with pytest.raises(DataError, match="label 'maybe' is not one of the head's labels"):
        cls.read_target({"label": "maybe"}, "f", 1)
