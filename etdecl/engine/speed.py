"""Two speed levers the loop applies itself: bf16 autocast and torch.compile of the graph.

bf16: `zero`, `gemini` and `hybrid` cast the model to bf16 themselves (fp32 master weights in
their optimizer wrappers); `ddp` does not, so for `precision: bf16` the loop runs every forward
(training and dev evaluation) under `torch.autocast("cpu", bfloat16)`: parameters, gradients and
the optimizer stay fp32, matmuls run on the CPU's bf16 units. Outputs are cast back to fp32 so
losses, metrics and numpy readers never see bf16.

compile: `train.compile` compiles the ModelGraph in place (`nn.Module.compile`, so parameter
names and checkpoints are unchanged) with dynamic shapes (dynamic padding gives every batch its
own width). Compilation is lazy, so a probe runs one training forward/backward and one eval
forward before training, with the RNG state restored and gradients cleared afterwards: its
time is the compile time, reported apart from step time, and a graph the compiler fails on is
caught there and trained eagerly, with one message saying why.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..recipe.schema import ParallelConfig

if TYPE_CHECKING:
    from rich.console import Console

    from .runlog import RunLog

Batch = dict[str, torch.Tensor]


def autocasts(plan: ParallelConfig) -> bool:
    """The loop (not the plugin) owns mixed precision: bf16 with plugin ddp."""
    return plan.plugin == "ddp" and plan.precision == "bf16"


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


def precision_context(plan: ParallelConfig) -> Callable[[], contextlib.AbstractContextManager]:
    """A factory of the context every forward of this plan runs in."""
    if autocasts(plan):
        return lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    return _nothing


def to_fp32(out: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor] | None:
    """bf16 outputs (autocast's) as fp32; other tensors untouched."""
    if out is None:
        return None
    return {k: v.float() if isinstance(v, torch.Tensor) and v.dtype == torch.bfloat16 else v
            for k, v in out.items()}


def why_not_compile(plan: ParallelConfig) -> str | None:
    """Why this plan trains eagerly despite `train.compile: true` (None: it can compile)."""
    if plan.plugin != "ddp":
        return (f"plugin '{plan.plugin}' shards or wraps the model's parameters in ways "
                "torch.compile cannot follow; only plugin 'ddp' is compiled")
    if not any(shutil.which(cc) for cc in ("g++", "c++", "clang++")):
        return "no C++ compiler (g++, c++ or clang++) on PATH for torch.compile's CPU backend"
    return None


@dataclass
class CompileOutcome:
    compiled: bool
    seconds: float = 0.0
    """Wall time of the probe: compiling the training and the eval graph (plus one
    forward/backward of compute)."""
    reason: str | None = None
    """Why training is eager (None when compiled)."""


def compile_graph(model: nn.Module, train_batch: Batch, eval_batch: Batch | None,
                  context: Callable[[], contextlib.AbstractContextManager],
                  loss: Callable[[dict[str, torch.Tensor], Batch], torch.Tensor],
                  backend: str | Callable = "inductor") -> CompileOutcome:
    """Compile `model` in place and probe it; on failure leave it eager and say why."""
    import torch._dynamo

    rng = torch.get_rng_state()
    was_training = model.training
    started = time.perf_counter()
    try:
        model.compile(dynamic=True, backend=backend)
        model.train()
        with context():
            out = to_fp32(model(**train_batch))
        assert out is not None
        loss(out, train_batch).backward()
        if eval_batch is not None:
            model.eval()
            with torch.no_grad(), context():
                model(**eval_batch)
    except Exception as err:  # noqa: BLE001  (any compiler failure means: train eagerly)
        model._compiled_call_impl = None  # undo nn.Module.compile
        torch._dynamo.reset()
        return CompileOutcome(False, reason=f"torch.compile failed on this graph "
                              f"({_first_cause(err)})")
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        torch.set_rng_state(rng)
    return CompileOutcome(True, time.perf_counter() - started)


def _first_cause(err: BaseException) -> str:
    """`Type: first line` of the error the compiler met (dynamo wraps a backend's own)."""
    inner = getattr(err, "inner_exception", None) or err.__cause__ or err
    lines = [x for x in str(inner).splitlines() if x.strip()]
    return f"{type(inner).__name__}: {lines[0][:200] if lines else ''}"


def report_compile(done: CompileOutcome | None, console: Console, log: RunLog, step: int,
                   is_main: bool) -> None:
    """One warning line (console and metrics.jsonl) when compile falls back; else its time."""
    if done is None:
        return
    if done.compiled:
        log.log(step, "compile", {"seconds": round(done.seconds, 3)})
        return
    message = f"train.compile: training eagerly: {done.reason}"
    if is_main:
        console.print(f"warning: {message}", style="yellow", soft_wrap=True, markup=False)
    log.log(step, "notice", {"message": message})
