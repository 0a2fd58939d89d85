"""Encoders: text ids → `EncoderOutput` (pooled vector, token states, mask; hidden states and
attentions when a training method asks for them).

`hf` wraps any transformers AutoModel; `textcnn` and `bilstm` read the same word pieces as a
transformer's tokenizer and may start from its embedding matrix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..recipe.aliases import resolve_model
from .adabert import AdaBERTCells
from .outputs import EncoderOutput, masked_mean
from .registry import Registry
from .small_encoders import BiLSTM, TextCNN, make_embedding

ENCODERS: Registry = Registry("encoder")


class HFTextEncoder(nn.Module):
    """A transformers AutoModel with cls, mask-weighted mean or the model's own pooler."""

    def __init__(self, backbone: nn.Module, pooling: str) -> None:
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        self.hidden_size: int = backbone.config.hidden_size
        self.uses_token_type_ids = getattr(backbone.config, "type_vocab_size", 0) > 1
        self.want_hidden_states = False
        self.want_attentions = False
        """Set by training methods that read intermediate layers (teachers, PKD, TinyBERT)."""

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> EncoderOutput:
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and self.uses_token_type_ids:
            kwargs["token_type_ids"] = token_type_ids
        if self.want_hidden_states:
            kwargs["output_hidden_states"] = True
        if self.want_attentions:
            kwargs["output_attentions"] = True
        out = self.backbone(**kwargs)
        states = out.last_hidden_state
        pooled = (out.pooler_output if self.pooling == "pooler"
                  else self.pool(states, attention_mask))
        return EncoderOutput(pooled, states, attention_mask,
                             getattr(out, "hidden_states", None), getattr(out, "attentions", None))

    def pool(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states → one vector per example (first token, the model's pooler, or the
        mask-weighted mean); pipeline stages pool here, from the last stage's states."""
        if self.pooling == "cls":
            return states[:, 0]
        if self.pooling == "pooler":
            pooled = self.backbone.pooler(states)
            activation = getattr(self.backbone, "pooler_activation", None)  # ALBERT
            return activation(pooled) if activation is not None else pooled
        return masked_mean(states, attention_mask)

    def layer_of(self, name: str) -> int | None:
        """Depth of a parameter for layer-wise lr decay: 0 embeddings, i+1 layer i; None above."""
        if name.startswith("backbone.embeddings"):
            return 0
        parts = name.split(".")
        for i, part in enumerate(parts[:-1]):
            if part in ("layer", "layers", "block") and parts[i + 1].isdigit():
                return int(parts[i + 1]) + 1
        return None

    @property
    def n_layers(self) -> int:
        return int(getattr(self.backbone.config, "num_hidden_layers", 0) or
                   getattr(self.backbone.config, "num_layers", 0))


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
"""Model types whose AutoModel takes `add_pooling_layer`; unless `pooling: pooler` reads it, the
pooler is unused, so we drop it."""


def _no_pooler(model_type: str | None, pooling: str) -> dict:
    drop = model_type in _POOLER_TYPES and pooling != "pooler"
    return {"add_pooling_layer": False} if drop else {}


def _check_pooler(backbone: nn.Module) -> None:
    """`pooling: pooler` needs a model that has one (DistilBERT, ELECTRA, T5 have none)."""
    if getattr(backbone, "pooler", None) is None:
        kind = getattr(backbone.config, "model_type", type(backbone).__name__)
        raise ValueError(f"pooling: pooler needs a model with its own pooler, and "
                         f"{type(backbone).__name__} ({kind}) has none; use pooling: cls or "
                         "mean")


def _encoder_only(config):
    """T5-style encoder-decoder configs become their encoder (AutoModel would build both)."""
    if getattr(config, "is_encoder_decoder", False):
        from transformers import T5EncoderModel

        return T5EncoderModel
    return None


def _freeze(enc: HFTextEncoder, embeddings: bool, layers: int) -> None:
    for name, p in enc.named_parameters():
        depth = enc.layer_of(name)
        if (embeddings and depth == 0) or (depth is not None and 0 < depth <= layers):
            p.requires_grad_(False)


@ENCODERS.register("hf")
def build_hf(cfg, base: Path) -> HFTextEncoder:
    """Pretrained weights load from safetensors when present; torch files load weights-only."""
    from transformers import AutoConfig, AutoModel

    sparse = cfg.attention.type == "rsa"
    # RSA reads BERT's [B,1,1,L] padding mask; sdpa would first expand it to [B,1,L,L]
    eager = {"attn_implementation": "eager"} if sparse else {}
    if cfg.model is not None:
        folder = resolve_model(cfg.model, base)
        config = AutoConfig.from_pretrained(str(folder), trust_remote_code=cfg.trust_remote_code)
        has_st = any(folder.glob("*.safetensors"))
        cls = _encoder_only(config) or AutoModel
        backbone = cls.from_pretrained(
            str(folder),
            config=config,
            trust_remote_code=cfg.trust_remote_code,
            use_safetensors=True if has_st else None,
            **_no_pooler(config.model_type, cfg.pooling),
            **eager,
        )
    else:
        params = dict(cfg.config)
        model_type = params.pop("model_type")
        config = AutoConfig.for_model(model_type, **params)
        cls = _encoder_only(config)
        backbone = cls(config) if cls else AutoModel.from_config(
            config, trust_remote_code=cfg.trust_remote_code,
            **_no_pooler(model_type, cfg.pooling), **eager)
    if cfg.layers is not None:  # extraction: only these layers, weights kept
        from .extract import keep_layers

        keep_layers(backbone, list(cfg.layers))
    if not hasattr(backbone.config, "hidden_size") and hasattr(backbone.config, "d_model"):
        backbone.config.hidden_size = backbone.config.d_model
    if cfg.pooling == "pooler":
        _check_pooler(backbone)
    if sparse:
        from .sparse_attention import install_rsa

        a = cfg.attention
        install_rsa(backbone, a.block, a.local_blocks, a.random_blocks, a.seed)
    enc = HFTextEncoder(backbone, cfg.pooling)
    _freeze(enc, cfg.freeze_embeddings, cfg.freeze_layers)
    return enc


def _embedding(cfg, base: Path, tokenizer) -> nn.Embedding:
    """Random embeddings of `embedding_dim`, or the tokenizer model's word-embedding matrix."""
    pad = tokenizer.pad_token_id or 0
    if cfg.embeddings == "random":
        return make_embedding(len(tokenizer), cfg.embedding_dim, pad, None, cfg.freeze_embeddings)
    from transformers import AutoModel

    folder = resolve_model(cfg.tokenizer, base)
    has_st = any(folder.glob("*.safetensors"))
    model = AutoModel.from_pretrained(str(folder), use_safetensors=True if has_st else None)
    weights = model.get_input_embeddings().weight.detach().clone()
    del model
    if weights.shape[0] < len(tokenizer):
        raise ValueError(f"the model's embedding matrix has {weights.shape[0]} rows but the "
                         f"tokenizer has {len(tokenizer)} tokens")
    weights = weights[: len(tokenizer)]
    return make_embedding(weights.shape[0], weights.shape[1], pad, weights, cfg.freeze_embeddings)


@ENCODERS.register("textcnn")
def build_textcnn(cfg, base: Path, tokenizer=None) -> TextCNN:
    return TextCNN(_embedding(cfg, base, tokenizer), list(cfg.widths), cfg.channels, cfg.dropout)


@ENCODERS.register("bilstm")
def build_bilstm(cfg, base: Path, tokenizer=None) -> BiLSTM:
    return BiLSTM(_embedding(cfg, base, tokenizer), cfg.hidden, cfg.layers, cfg.dropout,
                  cfg.pooling)


@ENCODERS.register("adabert")
def build_adabert(cfg, base: Path, tokenizer=None) -> AdaBERTCells:
    """Searched cells (no `architecture`), or the derived ones: inline, or a search run's
    `architecture.yaml` (relative to `base`, the recipe's folder)."""
    from ..recipe.adabert_space import as_genotype, check_genotype, load_architecture

    genotype = None
    if isinstance(cfg.architecture, str):
        path = Path(cfg.architecture).expanduser()
        genotype = load_architecture(path if path.is_absolute() else base / path)
    elif cfg.architecture is not None:
        genotype = as_genotype(cfg.architecture)
    if genotype is not None:
        check_genotype(genotype)
    return AdaBERTCells(_embedding(cfg, base, tokenizer), cfg.cells, cfg.nodes, cfg.hidden,
                        list(cfg.ops), cfg.dropout, cfg.pooling, genotype)
