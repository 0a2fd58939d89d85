"""What a recipe's encoders look like (layers, heads, hidden size), read without torch.

Plan checks need these numbers before any process starts: from the model folder's config.json,
or from the recipe's own `config:` with transformers' defaults for what it leaves out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

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


def encoder_shape(cfg: HFEncoder, base: Path) -> EncoderShape | None:
    """Shape of an encoder (after `layers:` extraction), or None when its config cannot be read
    here (nor for `from_teacher`, whose shape is the teacher's)."""
    if cfg.config is not None:
        raw = dict(cfg.config)
    elif cfg.model is not None:
        raw = model_config(cfg.model, base)
        if raw is None:
            return None
    else:
        return None
    get = {**_DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
    layers = getattr(cfg, "layers", None)  # `layers: [...]` keeps only these (extraction)
    try:
        depth = len(layers) if layers is not None else int(get["num_hidden_layers"])
        return EncoderShape(str(get.get("model_type", "")), depth,
                            int(get["num_attention_heads"]), int(get["hidden_size"]),
                            int(get["intermediate_size"]), int(get["vocab_size"]))
    except (TypeError, ValueError):
        return None


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
