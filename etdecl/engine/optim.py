"""Optimizer parameter groups: no weight decay on biases and norms, layer-wise learning-rate
decay for transformer encoders that ask for it, and frozen parameters left out."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..components.adabert import ARCH_PARAM
from ..components.encoders import HFTextEncoder


def no_decay(name: str) -> bool:
    return name.endswith(".bias") or "LayerNorm" in name or "layer_norm" in name


def _lr_scale(model: nn.Module, recipe: Any) -> dict[str, float]:
    """Parameter name → lr multiplier: decay^(depth from the top) inside encoders with
    `layer_lr_decay`; 1 elsewhere (heads, small encoders)."""
    scales: dict[str, float] = {}
    for enc_name, enc in getattr(model, "encoders", {}).items():
        cfg = recipe.encoders.get(enc_name)
        decay = getattr(cfg, "layer_lr_decay", None)
        if decay is None or not isinstance(enc, HFTextEncoder):
            continue
        top = enc.n_layers + 1
        for name, _ in enc.named_parameters():
            depth = enc.layer_of(name)
            if depth is not None:
                scales[f"encoders.{enc_name}.{name}"] = decay ** (top - depth)
    return scales


def param_groups(model: nn.Module, recipe: Any) -> list[dict]:
    """Groups keyed by (lr scale, decay); each carries `lr_scale`, applied to the base lr."""
    t = recipe.train
    scales = _lr_scale(model, recipe)
    groups: dict[tuple[float, bool], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad or name.rsplit(".", 1)[-1] == ARCH_PARAM:
            continue  # AdaBERT's architecture weights: the method's own optimizer
        key = (round(scales.get(name, 1.0), 12), no_decay(name))
        groups.setdefault(key, []).append(p)
    return [{"params": ps, "weight_decay": 0.0 if nd else t.weight_decay,
             "lr": t.lr * scale, "lr_scale": scale}
            for (scale, nd), ps in sorted(groups.items(), key=lambda kv: (-kv[0][0], kv[0][1]))]
