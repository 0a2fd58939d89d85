"""Encoders: text → one vector per example (plus per-token states for later heads)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..recipe.aliases import resolve_model
from ..recipe.schema import HFEncoder
from .registry import Registry

ENCODERS: Registry = Registry("encoder")


class HFTextEncoder(nn.Module):
    """A transformers AutoModel with cls or mask-weighted mean pooling."""

    def __init__(self, backbone: nn.Module, pooling: str) -> None:
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        self.hidden_size: int = backbone.config.hidden_size
        self.uses_token_type_ids = getattr(backbone.config, "type_vocab_size", 0) > 1

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and self.uses_token_type_ids:
            kwargs["token_type_ids"] = token_type_ids
        return self.pool(self.backbone(**kwargs).last_hidden_state, attention_mask)

    def pool(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states → one vector per example (first token, or mask-weighted mean)."""
        if self.pooling == "cls":
            return states[:, 0]
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def load_tokenizer(name: str, base: Path, trust_remote_code: bool = False):
    """A fast tokenizer from a folder or alias (fast tokenizers give offsets and speed)."""
    from transformers import AutoTokenizer

    folder = resolve_model(name, base)
    tok = AutoTokenizer.from_pretrained(
        str(folder), use_fast=True, trust_remote_code=trust_remote_code
    )
    if not tok.is_fast:
        raise ValueError(f"tokenizer in {folder} has no fast (Rust) version")
    return tok


_POOLER_TYPES = {"bert", "roberta", "xlm-roberta", "mpnet", "albert"}
"""Model types whose AutoModel takes `add_pooling_layer`; the pooler is unused, so we drop it."""


def _no_pooler(model_type: str | None) -> dict:
    return {"add_pooling_layer": False} if model_type in _POOLER_TYPES else {}


@ENCODERS.register("hf")
def build_hf(cfg: HFEncoder, base: Path) -> HFTextEncoder:
    """Pretrained weights load from safetensors when present; torch files load weights-only."""
    from transformers import AutoConfig, AutoModel

    if cfg.model is not None:
        folder = resolve_model(cfg.model, base)
        config = AutoConfig.from_pretrained(str(folder), trust_remote_code=cfg.trust_remote_code)
        has_st = any(folder.glob("*.safetensors"))
        backbone = AutoModel.from_pretrained(
            str(folder),
            config=config,
            trust_remote_code=cfg.trust_remote_code,
            use_safetensors=True if has_st else None,
            **_no_pooler(config.model_type),
        )
    else:
        assert cfg.config is not None
        params = dict(cfg.config)
        model_type = params.pop("model_type")
        config = AutoConfig.for_model(model_type, **params)
        backbone = AutoModel.from_config(
            config, trust_remote_code=cfg.trust_remote_code, **_no_pooler(model_type)
        )
    return HFTextEncoder(backbone, cfg.pooling)
