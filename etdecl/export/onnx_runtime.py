"""An ONNX Runtime backend for evaluate, predict and serve: an exported dataset graph run by
onnxruntime, wrapped as the evaluator's forward (batch dict → outputs dict of torch tensors).

What ModelGraph.forward adds in eval mode beside the graph's outputs (a tag head's word-level
path or CRF Viterbi decode, and a loss when the batch has targets) runs in torch with the run's
own head modules on onnxruntime's outputs, so `run_dataset` and `Task.decode` work unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..engine.inference import LoadedRun, RunError

OnnxForward = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]


def onnx_session(path: Path, threads: int | None = None):
    """A CPU InferenceSession with `threads` intra-op threads (default: torch's)."""
    import onnxruntime as ort

    if not path.is_file():
        raise RunError(f"no ONNX file at {path} (export one with `etdecl export RUN --format "
                       "onnx`)")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _heads_of(run: LoadedRun, path: Path, outputs: list[str]) -> list[str]:
    heads = list(dict.fromkeys(o.split(".", 1)[0] for o in outputs))
    unknown = [h for h in heads if h not in run.compiled.tasks]
    if unknown:
        raise RunError(f"{path} was not exported from this run: it has head '{unknown[0]}', "
                       f"the recipe has {', '.join(run.compiled.tasks)}")
    return heads


def onnx_forward(run: LoadedRun, path: Path, threads: int | None = None) -> OnnxForward:
    """The evaluator's forward over an exported `.onnx` of this run (see module docstring)."""
    session = onnx_session(path, threads)
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    model = run.compiled.model
    heads = _heads_of(run, path, outputs)

    @torch.no_grad()
    def forward(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        missing = [n for n in inputs if n not in batch]
        if missing:
            raise RunError(f"the batch has no '{missing[0]}', which {path.name} reads "
                           f"(it has {', '.join(sorted(batch))})")
        feed = {n: np.ascontiguousarray(batch[n].numpy(), dtype=np.int64) for n in inputs}
        got = session.run(outputs, feed)
        out = {n: torch.from_numpy(a) for n, a in zip(outputs, got, strict=True)}
        for head in heads:
            task, module = model.tasks[head], model.heads[head]
            result = {k.split(".", 1)[1]: v for k, v in out.items() if k.startswith(head + ".")}
            extra: dict[str, torch.Tensor] = {}
            if task.has_targets(batch):
                extra["loss"] = task.loss(result, batch, module)
            if task.in_batch(batch):
                extra.update(task.eval_outputs(result, batch, module))
            out.update({f"{head}.{k}": v for k, v in extra.items()})
        return out

    return forward
