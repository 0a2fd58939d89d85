"""Helpers for compile/data/engine tests: a tiny random BERT and a small learnable data set."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ETDECL = [sys.executable, "-m", "etdecl.cli"]
sys.path.insert(0, str(ROOT / "tests"))
import cli_server  # noqa: E402  (the suite's pre-imported etdecl)

GOOD = ["great", "superb", "lovely", "wonderful", "brilliant", "moving", "charming", "delightful"]
BAD = ["awful", "dull", "boring", "tedious", "clumsy", "bland", "lifeless", "dreadful"]
FILLER = [
    "the",
    "film",
    "story",
    "actor",
    "plot",
    "scene",
    "director",
    "script",
    "movie",
    "music",
    "camera",
    "cast",
]


def synthetic_rows(n: int, seed: int = 0) -> list[dict]:
    """Short texts whose label follows the sentiment words they contain: easy to learn."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.choice(["pos", "neg"])
        words = rng.sample(FILLER, 5) + rng.sample(GOOD if label == "pos" else BAD, 2)
        rng.shuffle(words)
        rows.append(
            {"id": i, "text": " ".join(words), "label": label, "domain": rng.choice(["a", "b"])}
        )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


TINY_RECIPE = """\
etdecl: 1
name: tiny
data:
  train: {{path: train.jsonl}}
  dev: {{path: dev.jsonl}}
  fields: {{text: text, label: label, domain: domain}}
  max_length: 16
encoders:
  enc:
    type: hf
    tokenizer: minilm-l6
    pooling: {pooling}
    config: {{model_type: bert, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4,
              intermediate_size: 64, vocab_size: 30522, max_position_embeddings: 64,
              hidden_dropout_prob: {dropout}, attention_probs_dropout_prob: {dropout}}}
heads:
  cls: {{type: classify, input: enc, labels: [neg, pos], dropout: {dropout}}}
train:
  epochs: {epochs}
  batch_size: 16
  lr: 3.0e-3
  warmup: 0.1
  eval_every: 10
  log_every: 1
  seed: 3
"""


TINY_ENCODER = """\
  enc:
    type: hf
    tokenizer: minilm-l6
    pooling: mean
    config: {model_type: bert, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4,
             intermediate_size: 64, vocab_size: 30522, max_position_embeddings: 64,
             hidden_dropout_prob: 0.0, attention_probs_dropout_prob: 0.0}
"""
"""A tiny random BERT reading MiniLM's word pieces, as a recipe's `encoders:` entry."""


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(
        os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2")
    )
    return cli_server.run(list(args), cwd or ROOT, env, timeout)  # forked, pre-imported


def read_metrics(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines]


def load_weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))
