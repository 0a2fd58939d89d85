"""`etdecl plan`: compile a recipe without training and show what would run."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.tree import Tree as RichTree
from torch import nn

from .recipe.validate import LoadedRecipe


def _params(module: nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return total, trainable


def _fmt(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def print_plan(loaded: LoadedRecipe, world_size: int, console: Console) -> None:
    from .compile import compile_recipe
    from .data.examples import load_splits
    from .quiet import quiet_third_party

    quiet_third_party()
    recipe = loaded.recipe
    compiled = compile_recipe(loaded)
    model = compiled.model

    total, trainable = _params(model)
    root = RichTree(f"[bold]{recipe.name}[/bold]  ModelGraph  {_fmt(total)} parameters "
                    f"({_fmt(trainable)} trainable)")
    encs = root.add("encoders")
    for name, enc in model.encoders.items():
        cfg = enc.backbone.config
        n, _ = _params(enc)
        encs.add(f"{name}: {type(enc.backbone).__name__} ({cfg.model_type}, "
                 f"{cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}, "
                 f"{cfg.num_attention_heads} heads, vocab {cfg.vocab_size}), "
                 f"pooling {enc.pooling}  [cyan]{_fmt(n)}[/cyan]")
    heads = root.add("heads")
    for name, head in model.heads.items():
        n, _ = _params(head)
        spec = recipe.heads[name]
        heads.add(f"{name}: {spec.type} ← {spec.input}, {len(spec.labels)} labels "
                  f"{spec.labels}  [cyan]{_fmt(n)}[/cyan]")
    console.print(root)

    tok = compiled.tokenizer
    splits = load_splits(loaded, compiled.labels)
    t = recipe.train
    steps_per_epoch = len(splits.train) // t.batch_size
    total_steps = steps_per_epoch * t.epochs
    if t.max_steps:
        total_steps = min(total_steps, t.max_steps)
    table = Table(show_header=False, title="plan")
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("tokenizer", f"{type(tok).__name__}, vocab {len(tok)}, max_length "
                      f"{recipe.data.max_length}, from {tok.name_or_path}"),
        ("parallel", f"{recipe.parallel.plugin} (ColossalAI TorchDDPPlugin), "
                     f"{world_size} process(es), precision {recipe.parallel.precision}"),
        ("batch", f"global {t.batch_size} = {world_size} process(es) × "
                  f"{t.grad_accum} micro-batch(es) × "
                  f"{t.batch_size // max(1, world_size * t.grad_accum)} examples"),
        ("data", f"{len(splits.train)} train / {len(splits.dev)} dev examples"),
        ("steps", f"{steps_per_epoch} per epoch × {t.epochs} epoch(s) → {total_steps} "
                  f"optimizer steps, {int(round(t.warmup * total_steps))} warmup"),
        ("evaluation", f"every {t.eval_every} steps and at epoch end" if t.eval_every
                       else "at epoch end"),
        ("fingerprint", loaded.fingerprint),
    ]
    if t.batch_size % (world_size * t.grad_accum):
        rows.append(("[red]problem[/red]", f"batch_size {t.batch_size} is not divisible by "
                     f"{world_size} × {t.grad_accum}"))
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
