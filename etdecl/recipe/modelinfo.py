"""What a recipe's encoders look like (layers, heads, hidden size), read without torch.

Plan checks need these numbers before any process starts: from the model folder's config.json,
or from the recipe's own `config:` with transformers' defaults for what it leaves out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .aliases import MODEL_ALIASES, resolve_model
from .schema import HFEncoder

SHARDFORMER_MODEL_TYPES = ("bert",)
"""Architectures whose layers etdecl can split with tp/pp (ColossalAI 0.5.0 has shardformer
policies for BERT, not for ALBERT, RoBERTa or MPNet; etdecl wraps the BERT policy)."""

_DEFAULTS = {"num_hidden_layers": 12, "num_attention_heads": 12, "hidden_size": 768,
             "intermediate_size": 3072, "vocab_size": 30522}


@dataclass(frozen=True)
class EncoderShape:
    model_type: str
    layers: int
    heads: int
    hidden: int
    intermediate: int
    vocab: int


def model_config(name: str, base: Path) -> dict | None:
    """A model's config.json, from the alias registry (split archives are not unpacked just to
    validate) or the folder; None when it cannot be read here."""
    alias = MODEL_ALIASES.get(name)
    if alias is not None and alias.config:
        return dict(alias.config)
    try:
        raw = _read_json(resolve_model(name, base) / "config.json")
    except (LookupError, OSError, ValueError):
        return None
    return dict(raw) if isinstance(raw, dict) else None


_READ: dict[tuple[str, int, int], object] = {}


def _read_json(path: Path) -> object:
    """A JSON file's content, read once per process while its size and mtime stay the same
    (every recipe of a `validate` run on the same model reads the same config.json)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _READ:
        _READ[key] = json.loads(path.read_text())
    return _READ[key]


def shape_from_config(raw: dict) -> EncoderShape | None:
    """An EncoderShape from a config.json's content (transformers' BERT defaults for what it
    leaves out), or None when its numbers are not numbers."""
    get = {**_DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
    try:
        return EncoderShape(str(get.get("model_type", "")), int(get["num_hidden_layers"]),
                            int(get["num_attention_heads"]), int(get["hidden_size"]),
                            int(get["intermediate_size"]), int(get["vocab_size"]))
    except (TypeError, ValueError):
        return None


def encoder_shape(cfg: HFEncoder, base: Path, lr: Any = None) -> EncoderShape | None:
    """Shape of an encoder, or None when its config cannot be read here. `layers:` keeps that
    many layers; `from_teacher:` takes the teacher's encoder (read through `lr`, the recipe
    declaring the teacher; None without it)."""
    if cfg.from_teacher is not None:
        shape = _teacher_shape(cfg.from_teacher, lr)
    elif cfg.config is not None:
        shape = shape_from_config(dict(cfg.config))
    elif cfg.model is not None:
        raw = model_config(cfg.model, base)
        shape = shape_from_config(raw) if raw is not None else None
    else:
        return None
    if shape is not None and cfg.layers is not None:
        shape = replace(shape, layers=len(cfg.layers))
    return shape


def source_shape(cfg: HFEncoder, base: Path, lr: Any = None) -> EncoderShape | None:
    """Shape of the model an encoder's `layers:` pick from (before picking)."""
    if cfg.layers is None:
        return encoder_shape(cfg, base, lr)
    return encoder_shape(cfg.model_copy(update={"layers": None}), base, lr)


def _teacher_shape(teacher: str, lr: Any) -> EncoderShape | None:
    if lr is None or teacher not in lr.recipe.teachers:
        return None
    from .teacherinfo import teacher_encoder

    found = teacher_encoder(lr, teacher)
    return found[1].shape if found else None


_POSITION_DEFAULTS = {"bert": 512, "distilbert": 512, "albert": 512, "electra": 512,
                      "roberta": 514, "xlm-roberta": 514, "camembert": 514, "mpnet": 514}
"""transformers' default `max_position_embeddings` for configs that leave it out."""
_PADDING_OFFSET = {"roberta": 2, "xlm-roberta": 2, "camembert": 2, "mpnet": 2}
"""Position ids of these models start after the padding index, so two positions are unusable."""


def max_tokens(cfg: HFEncoder, base: Path) -> tuple[int, str] | None:
    """(tokens the encoder's position embeddings allow, where that number was read), or None
    when it cannot be told here (no config, an unknown architecture, relative positions)."""
    if cfg.type != "hf":  # textcnn/bilstm: no positions; the tokenizer model's limit is moot
        return None
    if cfg.config is not None:
        raw, source = dict(cfg.config), "its config"
    elif cfg.model is not None:
        raw, source = model_config(cfg.model, base), "config.json"
    else:
        return None
    if not isinstance(raw, dict):
        return None
    kind = str(raw.get("model_type", ""))
    positions = raw.get("max_position_embeddings", _POSITION_DEFAULTS.get(kind))
    if isinstance(positions, bool) or not isinstance(positions, int) or positions <= 0:
        return None
    return positions - _PADDING_OFFSET.get(kind, 0), source
