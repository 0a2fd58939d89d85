"""Student initialisation for `hf` encoders: keep chosen transformer layers of a model
(`layers: [0, 5]`), and start from a teacher's encoder (`from_teacher:`), extract-then-distill.

Extraction keeps the embeddings (and pooler) and the listed layers, in the listed order, with
their weights; the config's `num_hidden_layers` becomes the number of layers kept. Layer lists
live at `encoder.layer` in the BERT family (bert, roberta, xlm-roberta, electra, camembert, ...)
and in MPNet; other layouts are refused.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from torch import nn


def layer_list(backbone: nn.Module) -> nn.ModuleList:
    """The backbone's list of transformer layers (`encoder.layer`), or ValueError."""
    layers = getattr(getattr(backbone, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        kind = getattr(backbone.config, "model_type", type(backbone).__name__)
        raise ValueError(f"layers: cannot extract layers from a {type(backbone).__name__} "
                         f"({kind}): only BERT-family and MPNet models (layers at "
                         "encoder.layer) are supported")
    return layers


def keep_layers(backbone: nn.Module, keep: list[int]) -> nn.Module:
    """Keep only layers `keep` (0-based, in this order) of `backbone`, in place; returns it."""
    layers = layer_list(backbone)
    n = len(layers)
    bad = [i for i in keep if i >= n]
    if bad:
        raise ValueError(f"layers: {bad} out of range: the model has {n} transformer layers "
                         f"(0..{n - 1})")
    seen: set[int] = set()
    kept = []
    for i in keep:  # a layer listed twice is copied, so the two train apart
        kept.append(copy.deepcopy(layers[i]) if i in seen else layers[i])
        seen.add(i)
    backbone.encoder.layer = nn.ModuleList(kept)
    backbone.config.num_hidden_layers = len(kept)
    return backbone


def teacher_source(loaded: Any, teacher: str) -> Path:
    """A teacher's `source`, resolved against the file that set it (`${VAR}` expands)."""
    from ..recipe.paths import resolve_data_path

    value = loaded.recipe.teachers[teacher].source
    base = loaded.origin_dir("teachers", teacher, "source")
    return Path(os.path.normpath(resolve_data_path(value, base)))


class TeacherEncoders:
    """The encoders (and tokenizers) of a recipe's teachers, loaded once per compile."""

    def __init__(self, loaded: Any) -> None:
        self.loaded = loaded
        self._cache: dict[str, tuple[nn.Module, Any]] = {}

    def get(self, teacher: str) -> tuple[nn.Module, Any]:
        """(HFTextEncoder, tokenizer) of `teacher`: its run's or bundle's trained encoder
        (`teachers.<t>.encoder`, or the one its first head reads), or its bare `model:`."""
        if teacher not in self._cache:
            self._cache[teacher] = self._load(teacher)
        return self._cache[teacher]

    def _load(self, teacher: str) -> tuple[nn.Module, Any]:
        from ..recipe.schema_components import HFEncoder
        from .encoders import build_hf, load_tokenizer

        cfg = self.loaded.recipe.teachers.get(teacher)
        if cfg is None:
            raise ValueError(f"from_teacher: no teacher '{teacher}' under teachers:")
        if cfg.source is None:
            if cfg.model is None:
                raise ValueError(f"teacher '{teacher}' has neither source nor model")
            base = self.loaded.origin_dir("teachers", teacher, "model")
            spec = HFEncoder(type="hf", model=cfg.model, pooling="cls")
            return build_hf(spec, base), load_tokenizer(cfg.model, base)
        from ..engine.inference import RunError, load_model

        path = teacher_source(self.loaded, teacher)
        try:
            run = load_model(path, cfg.checkpoint)
        except RunError as err:
            raise ValueError(f"teacher '{teacher}': {err}") from None
        graph = run.compiled.model
        name = cfg.encoder or (next(iter(graph.encoders)) if len(graph.encoders) == 1 else
                               graph.roots(graph.inputs[next(iter(graph.inputs))][0])[0])
        if name not in graph.encoders:
            raise ValueError(f"teacher '{teacher}' has no encoder '{name}' "
                             f"(it has {', '.join(graph.encoders)})")
        enc = graph.encoders[name]
        if not hasattr(enc, "backbone"):
            raise ValueError(f"teacher '{teacher}': encoder '{name}' is not an hf encoder")
        return enc, run.compiled.tokenizers[run.compiled.tokenizer_of[name]]


def student_from_teacher(cfg: Any, teacher_enc: nn.Module) -> nn.Module:
    """A student HFTextEncoder: a copy of the teacher's backbone (config and trained weights),
    then `layers`, with the student's own pooling and freezing."""
    from .encoders import HFTextEncoder, _check_pooler, _freeze

    backbone = copy.deepcopy(teacher_enc.backbone)
    for p in backbone.parameters():
        p.requires_grad_(True)
    backbone.train()
    if cfg.layers is not None:
        keep_layers(backbone, list(cfg.layers))
    if cfg.pooling == "pooler":
        _check_pooler(backbone)
    enc = HFTextEncoder(backbone, cfg.pooling)
    _freeze(enc, cfg.freeze_embeddings, cfg.freeze_layers)
    return enc
