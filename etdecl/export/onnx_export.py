"""`etdecl export --format onnx`: one ONNX graph per dataset of the recipe (its encoders and
heads; no loss, no decoding), inputs named as etdecl's batch keys, outputs `<head>.<output>`,
batch and sequence axes dynamic.

The TorchScript exporter (`dynamo=False`, deprecated but present in torch 2.13) is used for
every graph: it traces the BiLSTM's packed sequences into ONNX's LSTM with `sequence_lens`, and
exports transformers 4.51 BERT (sdpa attention) as well. The dynamo exporter (`torch.export`)
exports BERT too but fails on `pack_padded_sequence` (a data-dependent size), so one exporter
that takes every encoder wins.

Decoding (a tag head's word-level path, the CRF's Viterbi) stays in torch: `onnx_forward`
runs it on onnxruntime's outputs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from ..compile.graph import ModelGraph, tokenizer_suffix
from ..components.encoders import HFTextEncoder
from ..data.collate import view_key
from ..engine.inference import LoadedRun, pick_dataset
from ..recipe.datasets import datasets
from ..recipe.errors import Problem, RecipeError
from ..tasks.base import encoder_input

BATCH, SEQ = "batch", "sequence"


def input_names(model: ModelGraph, heads: list[str]) -> list[str]:
    """Batch keys the heads' encoders read (token types only where an encoder uses them)."""
    names: list[str] = []
    for head in heads:
        for view in model.views[head]:
            for enc in model.inputs[head]:
                suffix = tokenizer_suffix(model.tokenizer_of[enc], model.primary_tokenizer)
                keys = ["input_ids", "attention_mask"]
                encoder = model.encoders[enc]
                if isinstance(encoder, HFTextEncoder) and encoder.uses_token_type_ids:
                    keys.append("token_type_ids")
                for key in keys:
                    name = view_key(key, view) + suffix
                    if name not in names:
                        names.append(name)
    return names


class DatasetGraph(nn.Module):
    """A dataset's heads over their encoders, with positional inputs (ONNX has no dicts) and a
    tuple of outputs in `output_names` order."""

    def __init__(self, model: ModelGraph, heads: list[str], vocab: int) -> None:
        super().__init__()
        self.model = model
        self.heads = heads
        self.vocab = vocab
        """Token ids of trace batches stay below this (the smallest tokenizer's size)."""
        self.names = input_names(model, heads)
        self.output_names: list[str] = []

    def sample(self, batch: int = 2, length: int = 8) -> tuple[torch.Tensor, ...]:
        """A trace batch of uneven rows (so padding and masking are traced as they run)."""
        mask = torch.ones(batch, length, dtype=torch.long)
        mask[1:, length // 2:] = 0
        low = min(1000, self.vocab // 2)
        ids = torch.randint(low, self.vocab, (batch, length)) * mask
        made = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
        return tuple(made[n.split("@")[0].removesuffix("_b")] for n in self.names)

    def outputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        m = self.model
        wanted = sorted({(n, v) for h in self.heads for n in m.inputs[h] for v in m.views[h]})
        encoded = {(n, v): m.encode(n, v, batch) for n, v in wanted}
        out: dict[str, torch.Tensor] = {}
        for head in self.heads:
            views = {v: encoder_input([encoded[(n, v)] for n in m.inputs[head]])
                     for v in m.views[head]}
            out.update({f"{head}.{k}": t for k, t in m.heads[head](views).items()})
        return out

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.outputs(dict(zip(self.names, inputs, strict=True)))
        return tuple(out[k] for k in self.output_names)


def export_onnx(run: LoadedRun, out: Path, dataset: str | None = None,
                opset: int = 17) -> list[Path]:
    """`out/onnx/<dataset>.onnx` for each dataset of the recipe (or the one named), each
    checked with `onnx.checker`; returns the files written."""
    import onnx

    names = [pick_dataset(run, dataset).name] if dataset else list(datasets(run.loaded.recipe))
    refuse_unexportable(run)
    vocab = min(len(t) for t in run.compiled.tokenizers.values())
    folder = out / "onnx"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        graph = DatasetGraph(run.compiled.model, run.compiled.dataset_heads[name], vocab).eval()
        path = folder / f"{name}.onnx"
        export_graph(graph, path, opset)
        onnx.checker.check_model(str(path), full_check=True)
        written.append(path)
    return written


def dynamic_axes(graph: DatasetGraph) -> dict[str, dict[int, str]]:
    """Inputs: (batch, sequence). Outputs: whichever dims follow the batch size and the
    sequence length, found by running the graph at two sizes of each."""
    axes: dict[str, dict[int, str]] = {n: {0: BATCH, 1: SEQ} for n in graph.names}
    small, wide, tall = (graph(*graph.sample(b, t)) for b, t in
                         ((2, 8), (2, 9), (3, 8)))
    for n, s, w, t in zip(graph.output_names, small, wide, tall, strict=True):
        axes[n] = {d: BATCH if t.shape[d] != s.shape[d] else SEQ for d in range(s.dim())
                   if t.shape[d] != s.shape[d] or w.shape[d] != s.shape[d]}
    return axes


def export_graph(graph: DatasetGraph, path: Path, opset: int) -> None:
    """Trace and write one dataset graph with dynamic batch and sequence axes."""
    args = graph.sample()
    with torch.no_grad():
        graph.output_names = list(graph.outputs(dict(zip(graph.names, args, strict=True))))
        axes = dynamic_axes(graph)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and deprecation chatter
            torch.onnx.export(graph, args, str(path), input_names=graph.names,
                              output_names=graph.output_names, dynamic_axes=axes,
                              opset_version=opset, dynamo=False, do_constant_folding=True)


def refuse_unexportable(run: LoadedRun) -> None:
    """Encoders whose graph depends on the sequence length in Python get a located refusal:
    rsa attention draws its block pattern per number of blocks, so a traced graph would hold
    the pattern of one length only (and the tracer cannot seed a generator with a traced size).
    """
    problems = [
        Problem(f"encoder '{name}' uses rsa attention, which cannot be exported to ONNX: its "
                "random block pattern is chosen in Python for each sequence length, so no one "
                "graph serves every length (export a bundle and serve it with PyTorch, or "
                "train with attention: {type: dense})",
                loc=run.loaded.where("encoders", name, "attention", "type"),
                path=f"encoders.{name}.attention.type")
        for name, cfg in run.loaded.recipe.encoders.items()
        if getattr(getattr(cfg, "attention", None), "type", "dense") == "rsa"]
    problems += [
        Problem(f"tower '{name}' cannot be exported to ONNX: the ONNX graphs run encoders and "
                "heads only, and towers pick each row's part by its domain in Python (export "
                "a bundle and serve it with PyTorch)",
                loc=run.loaded.where("towers", name), path=f"towers.{name}")
        for name in run.loaded.recipe.towers]
    if problems:
        raise RecipeError(problems)
