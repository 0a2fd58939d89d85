"""Teachers of a distillation run: loaded frozen, run on the student's own batch.

A teacher is a finished run or bundle (`source`, opened with `load_model`) or a bare pretrained
encoder (`model`). It is frozen (eval mode, no gradients, run under `torch.no_grad`), never
boosted by the plugin and never saved in the student's checkpoints: it lives in the training
method, not in the graph. It runs inside the student's forward, so in the plan's precision
(bf16 autocast where the plan autocasts).

Outputs (keys without the teacher's name): `<head>.logits` for each head a logits or prediction
objective reads, `pooled` (fp32), `cls.<t>` and `hidden.<t>` ([CLS] and token states of layer t,
0 = embeddings), `attn.<t>` (attention probabilities of layer t) and `value.<t>` (the value
vectors of layer t, captured by a forward hook on its value projection).

Attention and value objectives need eager attention (sdpa returns no attention matrix): the
teacher's and the student's backbones are switched to eager attention when they are on.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..components.encoders import HFTextEncoder

_BERT_LIKE = {"bert", "roberta", "xlm-roberta", "camembert", "electra", "ernie"}


def value_module(backbone: nn.Module, layer: int) -> nn.Module:
    """The value projection of transformer layer `layer` (1-based) of a BERT-family or MPNet
    backbone; other model types are refused."""
    kind = getattr(backbone.config, "model_type", "?")
    try:
        block = backbone.encoder.layer[layer - 1]
        if kind in _BERT_LIKE:
            return block.attention.self.value
        if kind == "mpnet":
            return block.attention.attn.v
    except (AttributeError, IndexError) as err:
        raise ValueError(f"cannot find the value projection of layer {layer} in a {kind} "
                         f"model: {err}") from err
    raise ValueError(f"MiniLM's value relation needs a BERT-family or MPNet model (it hooks the "
                     f"value projection); this one is '{kind}'")


def use_eager_attention(backbone: nn.Module) -> None:
    """Switch a built backbone from sdpa to eager attention (sdpa returns no attention
    probabilities): the sdpa self-attention modules become their eager base class (same
    parameters), and the config says eager so the model builds the eager mask."""
    backbone.config._attn_implementation = "eager"
    if hasattr(backbone, "attn_implementation"):
        backbone.attn_implementation = "eager"
    for module in backbone.modules():
        cls = type(module)
        if "Sdpa" in cls.__name__ and cls.__bases__ and cls.__bases__[0] is not nn.Module:
            module.__class__ = cls.__bases__[0]


class ValueHook:
    """Keeps the output of a value projection from the latest forward."""

    def __init__(self, module: nn.Module) -> None:
        self.value: torch.Tensor | None = None
        self.handle = module.register_forward_hook(self._keep)

    def _keep(self, _module, _inputs, output) -> None:
        self.value = output

    def take(self) -> torch.Tensor:
        value, self.value = self.value, None
        assert value is not None, "the value projection did not run"
        return value


def _files_signature(path: Path) -> str:
    """Name, size and mtime of a weights file or of every file of a weights folder."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    parts = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


class LoadedTeacher:
    """One frozen teacher: its graph (a run or bundle) or bare encoder, and what it outputs."""

    def __init__(self, name: str, cfg: Any, loaded: Any) -> None:
        from .inference import load_model

        self.name = name
        self.cfg = cfg
        self.graph: nn.Module | None = None
        if cfg.source is not None:
            base = loaded.origin_dir("teachers", name, "source")
            path = Path(os.path.expandvars(os.path.expanduser(cfg.source)))
            path = path if path.is_absolute() else base / path
            run = load_model(path, cfg.checkpoint)
            self.graph = run.compiled.model
            encoders = run.compiled.model.encoders
            enc_name = cfg.encoder or (next(iter(encoders)) if len(encoders) == 1
                                       else run.compiled.model.inputs[
                                           next(iter(run.compiled.tasks))][0])
            self.encoder: HFTextEncoder = encoders[enc_name]
            self.enc_name = enc_name
            self.heads = list(run.compiled.tasks)
            self.fingerprint = (f"run:{run.loaded.fingerprint}:"
                                f"{_files_signature(Path(run.checkpoint))}")
        else:
            from ..components.encoders import build_hf
            from ..recipe.schema_components import HFEncoder

            base = loaded.origin_dir("teachers", name, "model")
            self.encoder = build_hf(HFEncoder(type="hf", model=cfg.model, pooling="cls"), base)
            self.enc_name = "encoder"
            self.heads = []
            from ..recipe.aliases import resolve_model

            self.fingerprint = f"model:{_files_signature(resolve_model(cfg.model, base))}"
        self.module: nn.Module = self.graph if self.graph is not None else self.encoder
        self.module.eval()
        self.module.requires_grad_(False)
        self.hooks: dict[int, ValueHook] = {}

    @property
    def backbone(self) -> nn.Module:
        return self.encoder.backbone

    @property
    def n_layers(self) -> int:
        return self.encoder.n_layers

    @property
    def width(self) -> int:
        return self.encoder.hidden_size

    @property
    def n_heads(self) -> int:
        return int(self.backbone.config.num_attention_heads)

    def prepare(self, wanted: set[str]) -> None:
        """Ask the encoder for what `wanted` needs (keys as in the module docstring)."""
        kinds = {w.split(".")[0] for w in wanted}
        self.encoder.want_hidden_states = bool(kinds & {"hidden", "cls"})
        self.encoder.want_attentions = "attn" in kinds
        if kinds & {"attn", "value"}:
            use_eager_attention(self.backbone)
        for w in wanted:
            if w.startswith("value."):
                layer = int(w.split(".")[1])
                if layer not in self.hooks:
                    self.hooks[layer] = ValueHook(value_module(self.backbone, layer))
        self.wanted = set(wanted)

    @torch.no_grad()
    def run(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The wanted outputs on the student's batch (its ids, mask and token types)."""
        ids, mask = batch["input_ids"], batch["attention_mask"]
        types = batch.get("token_type_ids")
        out: dict[str, torch.Tensor] = {}
        if self.graph is not None:
            keep = {k: v for k, v in batch.items()
                    if k.split("@")[0].split("_")[0] in ("input", "attention", "token")
                    or k in ("domain", "dataset", "index", "example")}
            captured: dict[str, Any] = {}
            graph = self.graph
            previous = graph.extra_forward

            def grab(_g, encoded, _out, _batch):
                captured["enc"] = encoded.get((self.enc_name, "a"))
                return {}

            graph.extra_forward = grab
            try:
                result = graph(**keep)
            finally:
                graph.extra_forward = previous
            for head in self.heads:
                if f"{head}.logits" in result:
                    out[f"{head}.logits"] = result[f"{head}.logits"].float()
            enc = captured.get("enc")
            if enc is None:
                enc = self.encoder(ids, mask, types)
        else:
            enc = self.encoder(ids, mask, types)
        out["pooled"] = enc.pooled.float()
        for w in self.wanted:
            kind, _, layer = w.partition(".")
            if kind == "hidden":
                out[w] = enc.hidden_states[int(layer)]
            elif kind == "cls":
                out[w] = enc.hidden_states[int(layer)][:, 0]
            elif kind == "attn":
                out[w] = enc.attentions[int(layer) - 1]
            elif kind == "value":
                out[w] = self.hooks[int(layer)].take()
        return out
