"""Tiny AdaBERT recipes: a searched student (2 cells of 2 nodes, width 16, random embeddings
over MiniLM's word pieces) distilled from the tiny BERT teacher of tests/teachers, on the
synthetic sentiment rows of tests/training."""

from __future__ import annotations

from pathlib import Path

from distill_recipes import write_data

SEARCH = """\
etdecl: 1
name: {name}
data:
  train: {{path: train.jsonl}}
  dev: {{path: dev.jsonl}}
  fields: {{text: text, label: label}}
  max_length: 16
encoders:
  student:
    type: adabert
    tokenizer: minilm-l6
    embedding_dim: 16
    hidden: 16
    cells: 2
    nodes: 2
    dropout: 0.0
{architecture}heads:
  cls: {{type: classify, input: student, labels: [neg, pos], dropout: 0.0}}
teachers:
  t:
    source: {teacher}
    objectives: {{logits: {{alpha: 0.5, temperature: 2.0}}}}
method: {method}
train:
  epochs: {epochs}
  batch_size: 8
  lr: 3.0e-3
  warmup: 0.0
  eval_every: 4
  log_every: 1
  seed: 3
{extra}"""

METHOD = "{type: adabert, efficiency: 0.1, arch_share: 0.25, arch_lr: 0.05, cache: false}"

STAGES = """\
stages:
  - {name: search, epochs: 2}
  - {name: retrain, method: {type: distill, cache: false}, start: derived, epochs: 2}
"""


def adabert_recipe(folder: Path, teacher: Path, name: str = "search", epochs: int = 2,
                   method: str = METHOD, architecture: str = "", extra: str = "") -> Path:
    write_data(folder)
    arch = f"    architecture: {architecture}\n" if architecture else ""
    path = folder / f"{name}.yaml"
    path.write_text(SEARCH.format(name=name, teacher=teacher, method=method, epochs=epochs,
                                  architecture=arch, extra=extra))
    return path
