"""Tiny meta-learning recipes on synthetic rows: a sentiment task whose domain shows in its
words (MetaFT's meta-teacher stage needs domains) and a three-topic task (MetaDTL's second task,
other labels), both read by a 2-layer random BERT over MiniLM's word pieces."""

from __future__ import annotations

import random
from pathlib import Path

from training_support import TINY_ENCODER, write_jsonl

GOOD = ["great", "superb", "lovely", "wonderful", "brilliant", "charming"]
BAD = ["awful", "dull", "boring", "tedious", "clumsy", "bland"]
WORDS = {"a": ["film", "actor", "plot", "scene", "director", "script", "cast", "camera"],
         "b": ["pan", "kettle", "knife", "oven", "blender", "toaster", "spoon", "lid"]}
TOPICS = {"music": ["guitar", "song", "drum", "piano", "singer", "band"],
          "sport": ["goal", "team", "match", "coach", "ball", "score"],
          "food": ["bread", "soup", "cheese", "salad", "pasta", "rice"]}


def sentiment_rows(n: int, seed: int) -> list[dict]:
    """Sentiment follows the opinion words; the domain (a or b) shows in the other words."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label, domain = rng.choice(["pos", "neg"]), rng.choice(["a", "b"])
        words = rng.sample(WORDS[domain], 4) + rng.sample(GOOD if label == "pos" else BAD, 2)
        rng.shuffle(words)
        rows.append({"id": i, "text": " ".join(words), "label": label, "domain": domain})
    return rows


def topic_rows(n: int, seed: int) -> list[dict]:
    """The topic follows three of the words; an opinion word rides along (shared with the
    sentiment task)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.choice(list(TOPICS))
        words = rng.sample(TOPICS[label], 3) + [rng.choice(GOOD + BAD)]
        rng.shuffle(words)
        rows.append({"id": i, "text": " ".join(words), "label": label, "domain": "t"})
    return rows


def write_data(folder: Path, n_senti: int = 96, n_topic: int = 64) -> None:
    write_jsonl(folder / "senti-train.jsonl", sentiment_rows(n_senti, 1))
    write_jsonl(folder / "senti-dev.jsonl", sentiment_rows(32, 2))
    write_jsonl(folder / "topic-train.jsonl", topic_rows(n_topic, 3))
    write_jsonl(folder / "topic-dev.jsonl", topic_rows(32, 4))


RECIPE = """\
etdecl: 1
name: {name}
data:
  fields: {{text: text, label: label, domain: domain}}
  max_length: 16
  sets:
    senti: {{train: {{path: senti-train.jsonl}}, dev: {{path: senti-dev.jsonl}}}}
    topic: {{train: {{path: topic-train.jsonl}}, dev: {{path: topic-dev.jsonl}}}}
encoders:
{encoder}heads:
  cls: {{type: classify, input: enc, data: senti, labels: [neg, pos], dropout: 0.0}}
  topic: {{type: classify, input: enc, data: topic, labels: [music, sport, food], dropout: 0.0}}
{method}train:
  epochs: {epochs}
  batch_size: 16
  lr: 3.0e-3
  warmup: 0.1
  eval_every: 100
  log_every: 1
  metric: cls.accuracy
  seed: 3
{extra}"""

META_DTL = "method: {type: meta_dtl, typicality: 0.5, corruption: 0.5, refresh: epoch}\n"


def write_recipe(folder: Path, method: str = META_DTL, extra: str = "", epochs: int = 2,
                 name: str = "meta-tiny") -> Path:
    """Both tasks' data and the two-head recipe (`method`: a `method: ...` line or empty)."""
    write_data(folder)
    path = folder / f"{name}.yaml"
    path.write_text(RECIPE.format(name=name, method=method, epochs=epochs, extra=extra,
                                  encoder=TINY_ENCODER))
    return path
