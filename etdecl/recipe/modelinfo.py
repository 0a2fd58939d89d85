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


def encoder_shape(cfg: HFEncoder, base: Path) -> EncoderShape | None:
    """Shape of an encoder, or None when its config cannot be read here."""
    if cfg.config is not None:
        raw = dict(cfg.config)
    elif cfg.model is not None and (alias := MODEL_ALIASES.get(cfg.model)) and alias.config:
        raw = dict(alias.config)
    elif cfg.model is not None:
        try:
            raw = json.loads((resolve_model(cfg.model, base) / "config.json").read_text())
        except (LookupError, OSError, ValueError):
            return None
    else:
        return None
    get = {**_DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
    try:
        return EncoderShape(str(get.get("model_type", "")), int(get["num_hidden_layers"]),
                            int(get["num_attention_heads"]), int(get["hidden_size"]),
                            int(get["intermediate_size"]), int(get["vocab_size"]))
    except (TypeError, ValueError):
        return None
