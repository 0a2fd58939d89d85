"""Tiny teacher run directories and bundles written straight to disk (no training: a
recipe.yaml or manifest, configs, tokenizer files copied from the installed MiniLM alias and a
dummy weights file), and a student recipe writer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def bert_config(layers: int, hidden: int, heads: int, vocab: int = 30522) -> dict:
    return {"model_type": "bert", "hidden_size": hidden, "num_hidden_layers": layers,
            "num_attention_heads": heads, "intermediate_size": 2 * hidden,
            "vocab_size": vocab, "max_position_embeddings": 64}


def _flow(cfg: dict) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in cfg.items()) + "}"


TEACHER_RUN = """\
etdecl: 1
name: teacher
data:
  train: {{path: train.jsonl}}
  dev: {{path: dev.jsonl}}
  fields: {{text: text, label: label, domain: domain}}
  max_length: 16
encoders:
  {encoder}:
    type: hf
    tokenizer: minilm-l6
    config: {config}
heads:
  {head}: {{type: {head_type}, input: {encoder}, labels: [{labels}]}}
"""


def make_run(folder: Path, layers: int = 4, hidden: int = 64, heads: int = 4,
             labels: tuple[str, ...] = ("neg", "pos"), head: str = "cls",
             head_type: str = "classify", encoder: str = "enc") -> Path:
    """A finished-looking run directory: recipe.yaml and a dummy best checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recipe.yaml").write_text(TEACHER_RUN.format(
        encoder=encoder, config=_flow(bert_config(layers, hidden, heads)), head=head,
        head_type=head_type, labels=", ".join(labels)))
    best = folder / "checkpoints" / "best"
    best.mkdir(parents=True, exist_ok=True)
    (best / "model.safetensors").write_bytes(b"dummy")
    return folder


def problems_of(path: Path) -> list:
    """Every problem `validate` finds in a recipe file: its errors, else its warnings."""
    from etdecl.recipe.errors import RecipeError
    from etdecl.recipe.validate import load_recipe

    try:
        loaded = load_recipe(path)
    except RecipeError as err:
        return list(err.problems)
    return list(loaded.warnings)


def minilm_folder() -> Path:
    from etdecl.recipe.aliases import resolve_model

    return resolve_model("minilm-l6")


def make_bundle(folder: Path, layers: int = 4, hidden: int = 64, heads: int = 4,
                labels: tuple[str, ...] = ("neg", "pos"), other_vocab: bool = False) -> Path:
    """A bundle's manifest, encoder config and tokenizer files; `other_vocab` swaps two word
    pieces of MiniLM's vocabulary (same size, other ids)."""
    tok = folder / "tokenizers" / "enc"
    tok.mkdir(parents=True, exist_ok=True)
    src = minilm_folder()
    if other_vocab:
        words = (src / "vocab.txt").read_text(encoding="utf-8").split("\n")
        words[2000], words[2001] = words[2001], words[2000]
        (tok / "vocab.txt").write_text("\n".join(words), encoding="utf-8")
    else:
        for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
            shutil.copyfile(src / name, tok / name)
    enc = folder / "encoders" / "enc"
    enc.mkdir(parents=True, exist_ok=True)
    (enc / "config.json").write_text(json.dumps(bert_config(layers, hidden, heads)))
    (folder / "model.safetensors").write_bytes(b"dummy")
    manifest = {"format": "etdecl-bundle", "format_version": 1,
                "datasets": {"main": {"heads": ["cls"], "fields": {"text": "text"}}},
                "heads": {"cls": {"type": "classify", "dataset": "main", "inputs": ["enc"],
                                  "labels": list(labels)}},
                "encoders": {"enc": {"type": "hf", "tokenizer": "tokenizers/enc",
                                     "config": "encoders/enc/config.json"}},
                "max_length": 16}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


STUDENT = """\
etdecl: 1
name: student
data:
  train: {{path: train.jsonl}}
  dev: {{path: dev.jsonl}}
  fields: {{text: text, label: label, domain: domain}}
  max_length: 16
encoders:
{enc}{encoders}heads:
  cls: {{type: classify, input: enc, labels: [neg, pos]}}
{teachers}method: {method}
train: {{epochs: 1, batch_size: 16, lr: 3.0e-3}}
{extra}"""


def student_recipe(teachers: str = "", method: str = "{type: distill}", extra: str = "",
                   encoders: str = "", layers: int = 2, hidden: int = 32,
                   heads: int = 4, enc: str | None = None) -> str:
    """A student recipe: encoder `enc` (a random BERT of this shape, or the given line, e.g.
    `  enc: {type: hf, from_teacher: t, layers: [0, 3]}`) read by classify head `cls`."""
    block = f"teachers:\n{teachers}" if teachers else ""
    if enc is None:
        enc = ("  enc:\n    type: hf\n    tokenizer: minilm-l6\n    config: "
               f"{_flow(bert_config(layers, hidden, heads))}\n")
    return STUDENT.format(enc=enc, encoders=encoders, teachers=block, method=method,
                          extra=extra)
