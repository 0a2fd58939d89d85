"""`etdecl plan`: compile a recipe without training and show what would run where.

Prints the module tree with parameters per component, the tokenizer, batch and step counts,
and per rank: data-parallel replica, pipeline stage with its encoder layers, tensor-parallel
rank, and estimated memory (parameters, gradients, optimizer state, activations). Tables never cut
a number: see `etdecl.tables`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree as RichTree
from torch import nn

from .recipe.errors import RecipeError
from .recipe.validate import LoadedRecipe
from .tables import fitted_tables, key_value_table

PLUGIN_NAMES = {"ddp": "TorchDDPPlugin", "zero": "LowLevelZeroPlugin", "gemini": "GeminiPlugin",
                "hybrid": "HybridParallelPlugin"}


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _fmt(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(int(n))


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f}"


_SPLIT_NAMES = ("query.", "key.", "value.", "intermediate.dense.",
                "attention.output.dense.weight", "output.dense.weight")


def part_sizes(model: nn.Module, encoder: str, head: str):
    """Parameter counts of embeddings, one encoder layer (and its tp-split share), the head."""
    from .engine.layout import PartSizes

    backbone = model.encoders[encoder].backbone
    emb = backbone.embeddings
    layer = backbone.encoder.layer[0]
    split = sum(p.numel() for n, p in layer.named_parameters()
                if any(n.startswith(s) or f".{s}" in f".{n}" for s in _SPLIT_NAMES))
    return PartSizes(_params(emb), emb.word_embeddings.weight.numel(), _params(layer), split,
                     _params(model.heads[head]))


def typical_length(lengths: np.ndarray, batch: int, max_length: int) -> int:
    """Expected longest sequence in a random batch: dynamic padding pads to it."""
    if len(lengths) == 0:
        return max_length
    q = 1.0 - 1.0 / (batch + 1)
    return int(min(max_length, np.quantile(lengths, q)))


RANK_HEADERS = ("rank", "dp", "pp\nstage", "tp", "encoder\nlayers", "also holds", "params",
                "params\nMiB", "grads\nMiB", "optimizer\nMiB", "activations\nMiB", "total\nMiB")


def rank_rows(loaded: LoadedRecipe, compiled: Any, world: int, seq_len: int) -> list[list[str]]:
    """One row of RANK_HEADERS per rank: where it sits in the layout and its memory estimate."""
    from .engine.layout import plan_ranks
    from .recipe.modelinfo import encoder_shape

    recipe = loaded.recipe
    enc_cfg = recipe.encoders[compiled.encoder]
    key = "model" if enc_cfg.model is not None else "config"
    shape = encoder_shape(enc_cfg, loaded.origin_dir("encoders", compiled.encoder, key))
    parts = part_sizes(compiled.model, compiled.encoder, compiled.head)
    t = recipe.train
    ranks = plan_ranks(recipe.parallel, shape, parts, world, t.batch_size, t.grad_accum, seq_len)
    rows = []
    for r in ranks:
        extra = ", ".join(x for x, on in (("embeddings", r.embeddings), ("head", r.head)) if on)
        rows.append([str(r.rank), str(r.dp), str(r.pp_stage), str(r.tp),
                     f"{r.layers[0]}–{r.layers[1] - 1}" if r.layers[1] > r.layers[0] else "-",
                     extra or "-", _fmt(r.params), _mib(r.memory["parameters"]),
                     _mib(r.memory["gradients"]), _mib(r.memory["optimizer"]),
                     _mib(r.memory["activations"]), _mib(r.total)])
    return rows


def rank_tables(loaded: LoadedRecipe, compiled: Any, world: int, seq_len: int,
                console: Console) -> list[Table]:
    """The per-rank table, turned on its side in blocks when the console is too narrow."""
    title = (f"per rank ({world} process(es); memory estimated for sequences of {seq_len} "
             "tokens)")
    rows = rank_rows(loaded, compiled, world, seq_len)
    return fitted_tables(console, title, RANK_HEADERS, rows, left={5})


def print_plan(loaded: LoadedRecipe, world_size: int, console: Console) -> None:
    from .compile import compile_recipe
    from .data.examples import load_splits
    from .data.tokens import encode_cached
    from .engine.layout import tp_split_weights
    from .quiet import quiet_third_party
    from .recipe.world import world_problems

    quiet_third_party()
    problems = world_problems(loaded, world_size)
    if problems:
        raise RecipeError(problems)
    recipe = loaded.recipe
    compiled = compile_recipe(loaded)
    model = compiled.model

    total = _params(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    root = RichTree(Text(f"{recipe.name}  ModelGraph  {_fmt(total)} parameters "
                         f"({_fmt(trainable)} trainable)", style="bold", overflow="fold"))
    encs = root.add(Text("encoders"))
    for name, enc in model.encoders.items():
        cfg = enc.backbone.config
        encs.add(Text(f"{name}  {_fmt(_params(enc))}  {type(enc.backbone).__name__} "
                      f"({cfg.model_type}, {cfg.num_hidden_layers} layers, hidden "
                      f"{cfg.hidden_size}, {cfg.num_attention_heads} heads, vocab "
                      f"{cfg.vocab_size}), pooling {enc.pooling}", overflow="fold"))
    heads = root.add(Text("heads"))
    for name, head in model.heads.items():
        spec = recipe.heads[name]
        heads.add(Text(f"{name}  {_fmt(_params(head))}  {spec.type} ← {spec.input}, "
                       f"{len(spec.labels)} labels {spec.labels}", overflow="fold"))
    console.print(root, soft_wrap=False)  # wrap long labels instead of cutting them off

    tok = compiled.tokenizer
    splits = load_splits(loaded, compiled.labels)
    t, p = recipe.train, recipe.parallel
    train_enc = encode_cached(splits.train, tok, recipe.data.max_length, splits.sources["train"])
    dp = max(1, world_size // (p.tp * p.pp))
    micro = (p.microbatches or p.pp) if p.pp > 1 else t.grad_accum
    micro_batch = max(1, t.batch_size // dp // micro)
    seq_len = typical_length(train_enc.lengths(), micro_batch, recipe.data.max_length)
    steps_per_epoch = len(splits.train) // t.batch_size
    total_steps = steps_per_epoch * t.epochs
    if t.max_steps:
        total_steps = min(total_steps, t.max_steps)
    layout = f"dp {dp} × tp {p.tp} × pp {p.pp}"
    zero = {"zero": p.zero_stage or 1, "gemini": 3}.get(p.plugin, p.zero_stage or 0)
    rows = [
        ("tokenizer", f"{type(tok).__name__}, vocab {len(tok)}, max_length "
                      f"{recipe.data.max_length}, from {tok.name_or_path}"),
        ("parallel", f"{p.plugin} (ColossalAI {PLUGIN_NAMES[p.plugin]}), {world_size} "
                     f"process(es) = {layout}, ZeRO stage {zero}, precision {p.precision}"
                     + (", gradient checkpointing" if p.gradient_checkpointing else "")),
        ("batch", f"global {t.batch_size} = dp {dp} × {micro} micro-batch(es) × "
                  f"{micro_batch} examples"),
        ("data", f"{len(splits.train)} train / {len(splits.dev)} dev examples; "
                 f"typical padded length {seq_len} tokens"),
        ("steps", f"{steps_per_epoch} per epoch × {t.epochs} epoch(s) → {total_steps} "
                  f"optimizer steps, {int(round(t.warmup * total_steps))} warmup"),
        ("evaluation", f"every {t.eval_every} steps and at epoch end" if t.eval_every
                       else "at epoch end"),
        ("fingerprint", loaded.fingerprint),
    ]
    split = tp_split_weights(p.tp)
    if split:
        rows.append(("tp splits", "; ".join(split)))
    console.print(key_value_table(console, "plan", rows), soft_wrap=False)
    for table in rank_tables(loaded, compiled, world_size, seq_len, console):
        console.print(table, soft_wrap=False)
