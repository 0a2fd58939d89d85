"""Cross-field checks: each a small named function returning located problems.

They run after the structural (pydantic) pass, all of them, and their problems are
reported together. A check that names two keys points at the one the user most likely got wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import Problem
from .loaded import LoadedRecipe
from .modelinfo import EncoderShape

Check = Callable[[LoadedRecipe], Iterator[Problem]]
CHECKS: list[Check] = []
DATA_CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    CHECKS.append(fn)
    return fn


def data_check(fn: Check) -> Check:
    DATA_CHECKS.append(fn)
    return fn


def _err(lr: LoadedRecipe, path: tuple, message: str, **kw) -> Problem:
    from .load import dotted

    return Problem(message, loc=lr.where(*path), path=dotted(path), **kw)


def _at_key(lr: LoadedRecipe, path: tuple, message: str, **kw) -> Problem:
    """A problem located at a mapping's key (`t:` of `teachers: {t: ...}`), not its value."""
    from .load import dotted

    return Problem(message, loc=lr.tree.key_where(path), path=dotted(path), **kw)


def _inherited(lr: LoadedRecipe, path: tuple) -> bool:
    """True when the value at `path` came from a parent recipe through `extends:`."""
    origin = lr.tree.origins.get(path, "")
    return bool(origin) and not origin.startswith("--set") and \
        Path(origin).resolve() != lr.file.resolve()


def _placed(lr: LoadedRecipe, path: tuple) -> str:
    """`'key' (file:line:col)`, saying when the key was inherited through `extends:`."""
    where = lr.where(*path)
    via = ", inherited via extends:" if _inherited(lr, path) else ""
    return f"'{path[-1]}' ({where}{via})" if where else f"'{path[-1]}'"


@check
def batch_splits_into_accumulation(lr: LoadedRecipe) -> Iterator[Problem]:
    t = lr.recipe.train
    if t.batch_size % t.grad_accum:
        yield _err(lr, ("train", "grad_accum"),
                   f"train.batch_size ({t.batch_size}) is not divisible by it",
                   expected=f"a divisor of {t.batch_size}", found=str(t.grad_accum))


def set_off_default(lr: LoadedRecipe, path: tuple, section: Any) -> bool:
    """The recipe writes `path` (the last key a field of `section`) with a value other than
    its default. Checks that an option "only applies to" another stay quiet for defaults:
    `show` writes every default out, and its output must validate clean."""
    key = path[-1]
    return ((path in lr.tree.values or path in lr.tree.origins)
            and getattr(section, key) != type(section).model_fields[key].default)


@check
def bucket_window_needs_bucketed_batches(lr: LoadedRecipe) -> Iterator[Problem]:
    """A window other than the default does nothing with random batches."""
    t = lr.recipe.train
    if t.batching != "bucketed" and set_off_default(lr, ("train", "bucket_window"), t):
        yield _err(lr, ("train", "bucket_window"), "a bucket window only applies to "
                   "length-bucketed batches", found=f"train.batching '{t.batching}'",
                   hint="set train.batching: bucketed, or drop train.bucket_window")


@check
def parallel_plan_fits_plugin(lr: LoadedRecipe) -> Iterator[Problem]:
    """Options each ColossalAI plugin accepts, and combinations it refuses."""
    p = lr.recipe.parallel
    t = lr.recipe.train
    base = ("parallel",)
    if p.plugin != "hybrid":
        for key in ("tp", "pp"):
            if getattr(p, key) > 1:
                yield _err(lr, (*base, key), f"{key} > 1 needs plugin 'hybrid'",
                           found=f"plugin '{p.plugin}'")
    if p.plugin == "ddp":
        if p.zero_stage:
            yield _err(lr, (*base, "zero_stage"), "plugin 'ddp' does not shard optimizer state",
                       hint="use plugin 'zero' (stage 1 or 2) or 'hybrid'")
        if p.precision == "fp16":
            yield _err(lr, (*base, "precision"), "plugin 'ddp' cannot train in fp16: its "
                       "autocast keeps fp32 weights and has no loss scaler on CPU, so small fp16 "
                       "gradients would vanish", expected="'fp32' or 'bf16'", found="'fp16'",
                       hint="use bf16 (same range as fp32), or plugin 'zero'/'gemini'/'hybrid' "
                       "for fp16")
    if p.plugin == "zero" and p.zero_stage == 0:
        yield _err(lr, (*base, "zero_stage"), "plugin 'zero' needs ZeRO stage 1 or 2",
                   expected="1 or 2", found="0")
    if p.plugin == "gemini":
        if p.zero_stage is not None:
            yield _err(lr, (*base, "zero_stage"), "plugin 'gemini' always shards parameters, "
                       "gradients and optimizer state; it takes no zero_stage")
        if p.precision == "fp32":
            yield _err(lr, (*base, "precision"), "plugin 'gemini' trains in bf16 or fp16",
                       expected="'bf16' or 'fp16'", found="'fp32'")
    if p.plugin == "hybrid" and (p.zero_stage or 0) > 0 and p.precision == "fp32":
        yield _err(lr, (*base, "zero_stage"), "HybridParallelPlugin refuses ZeRO with fp32",
                   hint="set parallel.precision to bf16 or fp16, or zero_stage to 0")
    if p.pp > 1 and (p.zero_stage or 0) > 1:
        yield _err(lr, (*base, "zero_stage"), "with a pipeline (pp > 1) ZeRO stage must be 0 or "
                   "1; HybridParallelPlugin refuses stage 2 (its gradient synchronisation across "
                   "micro-batches would be prohibitive)", expected="0 or 1")
    if p.microbatches is not None and p.pp == 1:
        yield _err(lr, (*base, "microbatches"), "micro-batches are for pipelines (pp > 1)")
    if p.pp > 1 and p.microbatches is not None and p.microbatches < p.pp:
        yield _err(lr, (*base, "microbatches"), f"too few micro-batches to keep the {p.pp} "
                   "pipeline stages (parallel.pp) busy", expected=f"at least {p.pp}",
                   found=str(p.microbatches))
    if t.grad_accum > 1:
        stage = p.zero_stage or (1 if p.plugin == "zero" else 0)
        if p.plugin == "gemini" or (p.plugin in ("zero", "hybrid") and stage >= 2) or p.pp > 1:
            why = ("a pipeline accumulates over parallel.microbatches" if p.pp > 1 else
                   f"plugin '{p.plugin}' with ZeRO stage {3 if p.plugin == 'gemini' else stage} "
                   "cannot skip gradient synchronisation")
            yield _err(lr, ("train", "grad_accum"), f"gradient accumulation is not possible "
                       f"here: {why}", expected="1", found=str(t.grad_accum),
                       hint="raise train.batch_size or use ZeRO stage 1 / ddp")
    if p.overlap_p2p and p.pp == 1:
        yield _err(lr, (*base, "overlap_p2p"), "overlapping send/receive is for pipelines "
                   "(pp > 1)")


@check
def parallel_plan_fits_model(lr: LoadedRecipe) -> Iterator[Problem]:
    """tp must divide heads and hidden size, pp must not exceed the layers, and both need an
    architecture with a shardformer policy. Read from the model config, without torch."""
    from .modelinfo import SHARDFORMER_MODEL_TYPES, encoder_shape

    p = lr.recipe.parallel
    if p.tp == 1 and p.pp == 1:
        return
    for name, enc in lr.recipe.encoders.items():
        if enc.type != "hf":
            continue  # sharded_plans_fit_the_graph (check_graph.py) refuses these
        key = "model" if enc.model is not None else "config"
        shape = encoder_shape(enc, lr.origin_dir("encoders", name, key), lr)
        if shape is None:
            continue
        if shape.model_type not in SHARDFORMER_MODEL_TYPES:
            what = "tp" if p.tp > 1 else "pp"
            yield _err(lr, ("parallel", what), f"encoder '{name}' is a '{shape.model_type}' "
                       f"model, which tensor/pipeline parallelism cannot split",
                       expected=f"an architecture among {', '.join(SHARDFORMER_MODEL_TYPES)}",
                       hint="use plugin 'zero' or 'gemini' to shard it instead")
            continue
        if p.tp > 1:
            yield from _tp_divides(lr, name, shape, p.tp)
        if p.pp > shape.layers:
            yield _err(lr, ("parallel", "pp"), f"more pipeline stages than the {shape.layers} "
                       f"layers of encoder '{name}'", expected=f"at most {shape.layers}",
                       found=str(p.pp))


def _tp_divides(lr: LoadedRecipe, name: str, shape: EncoderShape, tp: int) -> Iterator[Problem]:
    """tp splits attention heads, hidden size and vocabulary (a padded vocabulary cannot be
    checkpointed by ColossalAI 0.5.0); the message lists the tp values that split all three."""
    sizes = {"attention heads": shape.heads, "hidden size": shape.hidden,
             "vocabulary": shape.vocab}
    uneven = [f"{label} ({n})" for label, n in sizes.items() if n % tp]
    if not uneven:
        return
    fits = [str(t) for t in range(1, shape.heads + 1) if all(n % t == 0 for n in sizes.values())]
    listed = uneven[0] if len(uneven) == 1 else f"{', '.join(uneven[:-1])} and {uneven[-1]}"
    yield _err(lr, ("parallel", "tp"), f"does not divide the {listed} of encoder "
               f"'{name}'", expected=f"one of {', '.join(fits)}", found=str(tp))


from . import (  # noqa: E402,F401  (register checks)
    check_adabert,
    check_attention,
    check_datasets,
    check_domains,
    check_fit,
    check_graph,
    check_init,
    check_meta,
    check_selectors,
    check_stages,
    check_teachers,
    check_towers,
)


def cross_checks(lr: LoadedRecipe, check_data: bool = True) -> list[Problem]:
    """Every check's problems. On a recipe with structural errors a check stops where it reads
    a broken part; what it found before that came from valid parts and is kept."""
    from .salvage import BrokenInput

    problems: list[Problem] = []
    for fn in CHECKS + (DATA_CHECKS if check_data else []):
        try:
            for problem in fn(lr):
                problems.append(problem)
        except BrokenInput:
            continue
    return problems
