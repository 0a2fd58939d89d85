"""Compile a checked recipe into a ModelGraph: encoders → heads, built from registries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..components.encoders import ENCODERS, HFTextEncoder, load_tokenizer
from ..components.heads import HEADS
from ..recipe.errors import Problem, RecipeError
from ..recipe.validate import LoadedRecipe


class ModelGraph(nn.Module):
    """Encoders and heads by recipe name; forward runs the one head on its encoder's output."""

    def __init__(
        self, encoders: dict[str, nn.Module], heads: dict[str, nn.Module], wiring: dict[str, str]
    ) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        self.heads = nn.ModuleDict(heads)
        self.wiring = dict(wiring)
        self.head_name = next(iter(wiring))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,  # noqa: ARG002 - pipelines pass whole micro-batches
    ) -> torch.Tensor:
        encoder = self.encoders[self.wiring[self.head_name]]
        pooled = encoder(input_ids, attention_mask, token_type_ids)
        return self.heads[self.head_name](pooled)


@dataclass
class CompiledModel:
    model: ModelGraph
    tokenizer: Any
    labels: list[str]
    head: str
    encoder: str


def compile_recipe(loaded: LoadedRecipe) -> CompiledModel:
    """Build the module graph (weights loaded) and the tokenizer of the head's encoder."""
    recipe = loaded.recipe
    torch.manual_seed(recipe.train.seed)
    encoders: dict[str, nn.Module] = {}
    for name, cfg in recipe.encoders.items():
        try:
            encoders[name] = ENCODERS.get(cfg.type)(
                cfg, loaded.origin_dir("encoders", name, "model")
            )
        except (OSError, ValueError, LookupError) as err:
            # unreadable or refused weights (e.g. a pickle that weights-only loading rejects)
            key = "model" if cfg.model is not None else "config"
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RecipeError(
                [
                    Problem(
                        f"encoder '{name}' cannot be built: {first}",
                        loc=loaded.where("encoders", name, key),
                        path=f"encoders.{name}.{key}",
                    )
                ]
            ) from err
    heads: dict[str, nn.Module] = {}
    wiring: dict[str, str] = {}
    for name, cfg in recipe.heads.items():
        enc = encoders[cfg.input]
        assert isinstance(enc, HFTextEncoder)
        heads[name] = HEADS.get(cfg.type)(cfg, enc.hidden_size)
        wiring[name] = cfg.input
    head_name = next(iter(recipe.heads))
    enc_name = recipe.heads[head_name].input
    enc_cfg = recipe.encoders[enc_name]
    tok_name = enc_cfg.tokenizer or enc_cfg.model
    assert tok_name is not None
    key = "tokenizer" if enc_cfg.tokenizer else "model"
    tokenizer = load_tokenizer(
        tok_name, loaded.origin_dir("encoders", enc_name, key), enc_cfg.trust_remote_code
    )
    vocab = encoders[enc_name].backbone.config.vocab_size
    if len(tokenizer) > vocab:
        raise ValueError(
            f"encoders.{enc_name}: the tokenizer has {len(tokenizer)} tokens but the "
            f"model's vocab_size is {vocab}"
        )
    return CompiledModel(
        ModelGraph(encoders, heads, wiring),
        tokenizer,
        list(recipe.heads[head_name].labels),
        head_name,
        enc_name,
    )
