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
from .recipe.loaded import LoadedRecipe
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


def _layers(backbone: nn.Module) -> list[nn.Module]:
    """The repeated blocks of a transformer (BERT/MPNet `encoder.layer`, T5 `block`, ...)."""
    for path in ("encoder.layer", "layer", "encoder.block", "block", "transformer.layer"):
        node: Any = backbone
        for part in path.split("."):
            node = getattr(node, part, None)
        if isinstance(node, nn.ModuleList) and len(node):
            return list(node)
    return []


def part_sizes(model: nn.Module, encoder: str):
    """Parameter counts of the split encoder's embeddings, one of its layers (and the share tp
    splits), and everything else (other encoders, its pooler, heads, method modules: the last
    stage)."""
    from .engine.layout import PartSizes

    enc = model.encoders[encoder]
    backbone = getattr(enc, "backbone", enc)
    layers = _layers(backbone)
    per_layer = _params(layers[0]) if layers else 0
    split = 0
    if layers:
        split = sum(p.numel() for n, p in layers[0].named_parameters()
                    if any(n.startswith(s) or f".{s}" in f".{n}" for s in _SPLIT_NAMES))
    # a kept pooler (`pooling: pooler`) runs with the heads, on the last stage
    pooler = getattr(backbone, "pooler", None)
    pooled = _params(pooler) if isinstance(pooler, nn.Module) else 0
    embeddings = _params(enc) - per_layer * len(layers) - pooled
    word = backbone.get_input_embeddings().weight.numel() if hasattr(
        backbone, "get_input_embeddings") else enc.embedding.weight.numel()
    rest = _params(model) - _params(enc) + pooled
    return PartSizes(embeddings, word, per_layer, split, rest)


def split_encoder(loaded: LoadedRecipe, compiled: Any):
    """(name, shape) of the encoder whose layers a plan splits: the first `hf` encoder with a
    readable config, else the first encoder as one block."""
    from .recipe.modelinfo import EncoderShape, encoder_shape

    recipe = loaded.recipe
    for name, cfg in recipe.encoders.items():
        if cfg.type == "hf":
            key = "model" if cfg.model is not None else "config"
            shape = encoder_shape(cfg, loaded.origin_dir("encoders", name, key), loaded)
            if shape is not None:
                return name, shape
    name = next(iter(recipe.encoders))
    width = compiled.model.encoders[name].hidden_size
    return name, EncoderShape(recipe.encoders[name].type, 1, 1, width, width, 0)


def _describe_encoder(enc: nn.Module) -> str:
    backbone = getattr(enc, "backbone", None)
    if backbone is None:
        return f"{type(enc).__name__} (width {enc.hidden_size})"
    cfg = backbone.config
    layers = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "num_layers", "?")
    heads = getattr(cfg, "num_attention_heads", None) or getattr(cfg, "num_heads", "?")
    return (f"{type(backbone).__name__} ({cfg.model_type}, {layers} layers, hidden "
            f"{enc.hidden_size}, {heads} heads, vocab {cfg.vocab_size}), pooling {enc.pooling}")


def _describe_tower(name: str, tower: nn.Module, cfg: Any) -> str:
    """One line per tower: parameters, type, what it reads, its parts and extra losses."""
    what = cfg.type
    if cfg.type == "private":
        what += f" ({cfg.copy}" + (f", top {cfg.top_layers} layer(s)" if cfg.copy == "top"
                                   else f", {cfg.small.type}" if cfg.copy == "small" else "")
        what += f" × {len(tower.domains)} domains: {', '.join(tower.domains)})"
    elif cfg.type == "drss":
        what += f" (W_d {cfg.width} wide × {len(tower.domains)} domains, weight {cfg.weight})"
    losses = [p for p in ("adversarial", "orthogonality")
              if getattr(cfg, p, None) not in (None, 0, 0.0)]
    if cfg.type == "drss" and cfg.weight > 0:
        losses.insert(0, "relations")
    extra = f", losses {', '.join(losses)}" if losses else ""
    return (f"{name}  {_fmt(_params(tower))}  {what} ← {' + '.join(cfg.inputs())}, "
            f"width {tower.hidden_size}{extra}")


def typical_length(lengths: np.ndarray, batch: int, max_length: int) -> int:
    """Expected longest sequence in a random batch: dynamic padding pads to it."""
    if len(lengths) == 0:
        return max_length
    q = 1.0 - 1.0 / (batch + 1)
    return int(min(max_length, np.quantile(lengths, q)))


RANK_HEADERS = ("rank", "dp", "pp\nstage", "tp", "encoder\nlayers", "also holds", "params",
                "params\nMiB", "grads\nMiB", "optimizer\nMiB", "buffers\nMiB", "activations\nMiB",
                "step\nMiB", "runtime\nMiB", "peak\nMiB")


def rank_rows(loaded: LoadedRecipe, compiled: Any, world: int, seq_len: int) -> list[list[str]]:
    """One row of RANK_HEADERS per rank: where it sits in the layout and its memory estimate."""
    from .engine.layout import plan_ranks

    recipe = loaded.recipe
    name, shape = split_encoder(loaded, compiled)
    parts = part_sizes(compiled.model, name)
    t = recipe.train
    ranks = plan_ranks(recipe.parallel, shape, parts, world, t.batch_size, t.grad_accum, seq_len)
    rows = []
    for r in ranks:
        extra = ", ".join(x for x, on in (("embeddings", r.embeddings), ("head", r.head)) if on)
        rows.append([str(r.rank), str(r.dp), str(r.pp_stage), str(r.tp),
                     f"{r.layers[0]}–{r.layers[1] - 1}" if r.layers[1] > r.layers[0] else "-",
                     extra or "-", _fmt(r.params), _mib(r.memory["parameters"]),
                     _mib(r.memory["gradients"]), _mib(r.memory["optimizer"]),
                     _mib(r.memory["buffers"]), _mib(r.memory["activations"]),
                     _mib(r.memory["step"]), _mib(r.memory["runtime"]), _mib(r.total)])
    return rows


def buffer_rows(loaded: LoadedRecipe, compiled: Any, world: int, seq_len: int
                ) -> list[tuple[str, str]]:
    """The plugin's own buffers on rank 0, by name (the `buffers`, `activations` and `step`
    columns include them), and what the peak sums."""
    from .engine.layout import plan_ranks

    recipe = loaded.recipe
    name, shape = split_encoder(loaded, compiled)
    t = recipe.train
    rank0 = plan_ranks(recipe.parallel, shape, part_sizes(compiled.model, name), world,
                       t.batch_size, t.grad_accum, seq_len)[0]
    rows = [(k, f"{_mib(v)} MiB") for k, v in rank0.detail.items()]
    rows.append(("peak", "parameters + gradients + optimizer + buffers + activations + step "
                         "+ runtime (tokenizer, data, process group)"))
    return rows


def rank_tables(loaded: LoadedRecipe, compiled: Any, world: int, seq_len: int,
                console: Console) -> list[Table]:
    """The per-rank table, turned on its side in blocks when the console is too narrow."""
    title = (f"per rank ({world} process(es); memory estimated for sequences of {seq_len} "
             "tokens)")
    rows = rank_rows(loaded, compiled, world, seq_len)
    return fitted_tables(console, title, RANK_HEADERS, rows, left={5})


CACHE_HEADERS = ("teacher", "output", "per example", "dtype", "examples", "MiB")


def teacher_cache_table(loaded: LoadedRecipe, rows: int, console: Console) -> Table | None:
    """The teacher-output cache a `distill` recipe with `cache: true` fills: each teacher's
    outputs, their size per example and in all, and the total."""
    from .recipe.cache_estimate import teacher_cache_estimate

    entries = teacher_cache_estimate(loaded, rows)
    if not entries:
        return None
    table = Table(title=f"teacher-output cache (tokens ≤ data.max_length "
                        f"{loaded.recipe.data.max_length})", title_justify="left")
    for i, header in enumerate(CACHE_HEADERS):
        table.add_column(header, justify="left" if i < 4 else "right", no_wrap=True)
    for e in entries:
        what = e.output + (f" (layers {', '.join(map(str, e.layers))})" if e.layers else "")
        table.add_row(e.teacher, what, " × ".join(map(str, e.shape)), e.dtype, f"{e.rows:,}",
                      _mib(e.bytes))
    total = sum(e.bytes for e in entries)
    table.add_row("total", "", "", "", "", f"{_mib(total)} ({total:,} bytes)")
    return table


def adabert_tables(model: nn.Module, recipe: Any, seq_len: int, console: Console) -> list:
    """Per adabert encoder: its cells (derived: node by node) with the ops' parameters and
    FLOPs per example at the typical length; searching: the candidate ops."""
    from .components.adabert import AdaBERTCells
    from .recipe.adabert_space import describe

    tables = []
    for name, enc in model.encoders.items():
        if not isinstance(enc, AdaBERTCells):
            continue
        params, macs = enc.cell_cost()
        flops = 2 * macs * seq_len
        rows = [("cells", f"{enc.num_cells} × {enc.nodes} nodes, hidden {enc.hidden_size}, "
                          f"pooling {enc.pooling}")]
        if enc.genotype is not None:
            for line in describe(enc.genotype):
                rows.append(("node", line))
            rows.append(("cells' ops", f"{params:,} parameters, {flops / 1e6:.2f} MFLOPs per "
                                       f"example at {seq_len} tokens"))
        else:
            rows.append(("searching", f"every edge mixes {', '.join(enc.ops)} (Gumbel-softmax "
                                      f"{recipe.method.temperature.start} → "
                                      f"{recipe.method.temperature.end})"
                         if recipe.method.type == "adabert" else "no architecture"))
            rows.append(("all candidates", f"{params:,} parameters, {flops / 1e6:.2f} MFLOPs "
                                           f"per example at {seq_len} tokens"))
        rows.append(("encoder in all", f"{_params(enc):,} parameters (with embeddings)"))
        tables.append(key_value_table(console, f"adabert encoder {name}", rows))
    return tables


def print_plan(loaded: LoadedRecipe, world_size: int, console: Console) -> None:
    from .compile import compile_recipe
    from .data.examples import load_splits
    from .data.held_out import held_count
    from .engine.layout import tp_split_weights
    from .engine.run_data import dataset_features
    from .quiet import quiet_third_party
    from .recipe.batch_math import batch_layout
    from .recipe.datasets import metric_key
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
        encs.add(Text(f"{name}  {_fmt(_params(enc))}  {_describe_encoder(enc)}  tokenizer "
                      f"{compiled.tokenizer_of[name]}", overflow="fold"))
    if model.towers:
        towers = root.add(Text("towers"))
        for name, tower in model.towers.items():
            towers.add(Text(_describe_tower(name, tower, recipe.towers[name]),
                            overflow="fold"))
    heads = root.add(Text("heads"))
    for name, head in model.heads.items():
        spec = recipe.heads[name]
        what = f"{len(spec.labels)} labels {spec.labels}" if hasattr(spec, "labels") else ""
        heads.add(Text(f"{name}  {_fmt(_params(head))}  {spec.type} ← "
                       f"{' + '.join(model.inputs[name])}"
                       f"{' (siamese)' if model.views[name] == ('a', 'b') else ''}, data "
                       f"{', '.join(d for d, hs in compiled.dataset_heads.items() if name in hs)}"
                       f"{', ' + what if what else ''}", overflow="fold"))
    root.add(Text(f"method  {recipe.method.type}  (selects on {metric_key(recipe)})"))
    console.print(root, soft_wrap=False)  # wrap long labels instead of cutting them off

    tok = compiled.tokenizer
    t, p = recipe.train, recipe.parallel
    train_sets = []
    for i, ds_name in enumerate(compiled.dataset_heads):
        tasks = [compiled.tasks[h] for h in compiled.dataset_heads[ds_name]]
        splits = load_splits(loaded, ds_name, tasks)
        feats = dataset_features(compiled, ds_name, i, splits.train, splits.sources["train"],
                                 recipe.data.max_length)
        train_sets.append((ds_name, len(splits.train), len(splits.dev), feats))
    b = batch_layout(p, t, world_size)
    dp, micro, micro_batch, zero = b.dp, b.micro, b.micro_batch, b.zero
    lengths = np.concatenate([f.feats.lengths() for *_, f in train_sets])
    seq_len = typical_length(lengths, micro_batch, recipe.data.max_length)
    share = getattr(recipe.method, "arch_share", 0.0)  # AdaBERT's held-out rows
    steps_per_epoch = sum((len(f.feats) - held_count(len(f.feats), share)) // t.batch_size
                          for *_, f in train_sets)
    total_steps = steps_per_epoch * t.epochs
    if t.max_steps:
        total_steps = min(total_steps, t.max_steps)
    layout = f"dp {dp} × tp {p.tp} × pp {p.pp}"
    data_text = "; ".join(f"{n}: {a} train / {b} dev examples" + (
        f" ({len(f.feats)} features)" if len(f.feats) != a else "") for n, a, b, f in train_sets)
    rows = [
        ("tokenizer", f"{type(tok).__name__}, vocab {len(tok)}, max_length "
                      f"{recipe.data.max_length}, from {tok.name_or_path}"),
        ("parallel", f"{p.plugin} (ColossalAI {PLUGIN_NAMES[p.plugin]}), {world_size} "
                     f"process(es) = {layout}, ZeRO stage {zero}, precision {p.precision}"
                     + (", gradient checkpointing" if p.gradient_checkpointing else "")),
        ("batch", f"global {t.batch_size} = dp {dp} × {micro} micro-batch(es) × "
                  f"{micro_batch} examples"),
        ("data", f"{data_text}; typical padded length {seq_len} tokens"),
        ("steps", f"{steps_per_epoch} per epoch × {t.epochs} epoch(s) → {total_steps} "
                  f"optimizer steps, {int(round(t.warmup * total_steps))} warmup"
                  + (f"; datasets mixed {t.mixing}" if len(train_sets) > 1 else "")),
        ("evaluation", f"every {t.eval_every} steps and at epoch end" if t.eval_every
                       else "at epoch end"),
        ("fingerprint", loaded.fingerprint),
    ]
    if share:
        held = sum(held_count(len(f.feats), share) for *_, f in train_sets)
        rows.insert(-1, ("architecture steps", f"one before every weight step, on {held} "
                                               f"held-out rows ({share:.0%} of the training "
                                               "rows, seeded; the weights never see them)"))
    split = tp_split_weights(p.tp)
    if split:
        rows.append(("tp splits", "; ".join(split)))
    console.print(key_value_table(console, "plan", rows), soft_wrap=False)
    for table in adabert_tables(model, recipe, seq_len, console):
        console.print(table, soft_wrap=False)
    cache = teacher_cache_table(loaded, sum(len(f.feats) for *_, f in train_sets), console)
    if cache is not None:
        console.print(cache, soft_wrap=False)
    for table in rank_tables(loaded, compiled, world_size, seq_len, console):
        console.print(table, soft_wrap=False)
    console.print(key_value_table(console, f"{p.plugin} buffers (rank 0)",
                                  buffer_rows(loaded, compiled, world_size, seq_len)),
                  soft_wrap=False)
