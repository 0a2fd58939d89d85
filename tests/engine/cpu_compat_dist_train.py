"""Worker for tests/engine/test_cpu_compat.py, started by torchrun with 2 CPU processes (gloo).

Trains a tiny random BertForSequenceClassification through ``colossalai.booster.Booster`` with
one plugin configuration for a few steps on fixed random data, and (on rank 0) writes JSON::

    {"config": ..., "applied": [...], "losses": [...], "reference": [...], "seconds": ...}

``losses[i]`` is the global mean training loss of step ``i`` (before its update) and
``reference[i]`` that of a plain single-process fp32 ``torch.optim.AdamW`` run on the same
model, data and hyper-parameters (dropout is 0, so both are deterministic). Usage::

    python -m torch.distributed.run --nproc_per_node 2 cpu_compat_dist_train.py CONFIG OUT.json

``CPU_COMPAT_SKIP=name,...`` removes those patches first, to see what fails without them.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from collections.abc import Callable
from typing import Any

import colossalai
import torch
import torch.distributed as dist
from colossalai.booster import Booster
from colossalai.booster.plugin import (
    GeminiPlugin,
    HybridParallelPlugin,
    LowLevelZeroPlugin,
    TorchDDPPlugin,
)
from colossalai.booster.plugin.plugin_base import Plugin
from colossalai.nn.optimizer import HybridAdam
from transformers import BertConfig, BertForSequenceClassification

from etdecl.engine.cpu_compat import apply_cpu_compat, plugin_kwargs_for_cpu, remove_cpu_compat

LR = 3e-3
BATCH = 16  # global batch, split over the data-parallel ranks
SEQ = 16


def _zero(stage: int) -> Plugin:
    return LowLevelZeroPlugin(stage=stage, precision="fp32", **plugin_kwargs_for_cpu("zero"))


def _hybrid(**kwargs: Any) -> Plugin:
    return HybridParallelPlugin(**kwargs, **plugin_kwargs_for_cpu("hybrid"))


# name -> (plugin factory, data-parallel size, pipeline?, half precision?)
CONFIGS: dict[str, tuple[Callable[[], Plugin], int, bool, bool]] = {
    "ddp": (TorchDDPPlugin, 2, False, False),
    "zero1": (lambda: _zero(1), 2, False, False),
    "zero2": (lambda: _zero(2), 2, False, False),
    "tp2": (lambda: _hybrid(tp_size=2, pp_size=1, precision="fp32"), 1, False, False),
    "pp2": (lambda: _hybrid(tp_size=1, pp_size=2, num_microbatches=2, precision="fp32"),
            1, True, False),
    "pp2_zero1_bf16": (lambda: _hybrid(tp_size=1, pp_size=2, num_microbatches=2,
                                       zero_stage=1, precision="bf16"), 1, True, True),
    "gemini": (lambda: GeminiPlugin(precision="bf16", **plugin_kwargs_for_cpu("gemini")),
               2, False, True),
    # fp16 makes HybridAdam call its cpu_adam kernel (here TorchCPUAdamKernel) with loss-scaled
    # fp16 grads; bf16 grads take HybridAdam's own torch path instead
    "gemini_fp16": (lambda: GeminiPlugin(precision="fp16", initial_scale=2**8,
                                         **plugin_kwargs_for_cpu("gemini")), 2, False, True),
}


def make_model() -> BertForSequenceClassification:
    config = BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=64, num_labels=2,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(0)
    return BertForSequenceClassification(config)


def make_data() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1234)
    return {
        "input_ids": torch.randint(0, 100, (BATCH, SEQ), generator=gen),
        "attention_mask": torch.ones(BATCH, SEQ, dtype=torch.long),
        "labels": torch.randint(0, 2, (BATCH,), generator=gen),
    }


def reference_losses(model: torch.nn.Module, data: dict[str, torch.Tensor],
                     steps: int) -> list[float]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        loss = model(**data).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def gemini_chunk_summary(model: Any) -> dict[str, int]:
    """How Gemini laid the parameters out: chunks, kept-gathered ones, sharded elements here."""
    while not hasattr(model, "chunk_manager"):  # booster wrapper(s) around GeminiDDP
        model = model.module
    chunks = [c for group in model.chunk_manager.chunk_groups.values() for c in group]
    return {
        "chunks": len(chunks),
        "keep_gathered": sum(bool(c.keep_gathered) for c in chunks),
        "offloaded": sum(c.cpu_shard is not None for c in chunks),
        "shard_elements": int(sum(c.shard_size for c in chunks if not c.keep_gathered)),
        "chunk_elements": int(sum(c.chunk_size for c in chunks)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", choices=sorted(CONFIGS))
    parser.add_argument("out")
    parser.add_argument("--steps", type=int, default=15)
    args = parser.parse_args()

    applied = apply_cpu_compat()
    skip = [name for name in os.environ.get("CPU_COMPAT_SKIP", "").split(",") if name]
    remove_cpu_compat(skip)  # lets a test show what breaks without a patch
    applied = [name for name in applied if name not in skip]
    colossalai.launch_from_torch(backend="gloo", seed=42, verbose=False)
    rank, world = dist.get_rank(), dist.get_world_size()
    start = time.perf_counter()
    factory, dp_size, pipeline, half = CONFIGS[args.config]

    model, data = make_model(), make_data()
    reference = reference_losses(copy.deepcopy(model), data, args.steps) if rank == 0 else []

    dp_rank = rank % dp_size
    per_rank = BATCH // dp_size
    batch = {k: v[dp_rank * per_rank:(dp_rank + 1) * per_rank] for k, v in data.items()}

    plugin = factory()
    if isinstance(plugin, GeminiPlugin):
        optimizer: torch.optim.Optimizer = HybridAdam(model.parameters(), lr=LR)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    booster = Booster(plugin=plugin)
    model, optimizer, *_ = booster.boost(model, optimizer)

    losses = []
    for _ in range(args.steps):
        model.train()
        if pipeline:
            out = booster.execute_pipeline(iter([batch]), model,
                                           lambda outputs, inputs: outputs.loss, optimizer,
                                           return_loss=True)
            loss = out["loss"]
        else:
            loss = model(**batch).loss
            booster.backward(loss, optimizer)
        optimizer.step()
        optimizer.zero_grad()
        # global mean over the ranks that hold a loss: every rank (dp halves are equal-sized,
        # tp ranks hold the same value) or only the last pipeline stage
        has_loss = loss is not None
        total = torch.tensor([float(loss.item()) if has_loss else 0.0, float(has_loss)],
                             dtype=torch.float64)
        dist.all_reduce(total)
        losses.append(total[0].item() / total[1].item())

    extra: dict[str, Any] = {}
    if isinstance(plugin, GeminiPlugin):
        extra["gemini_chunks"] = gemini_chunk_summary(model)
    if rank == 0:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump({"config": args.config, "world": world, "half_precision": half,
                       "applied": applied, "losses": losses, "reference": reference,
                       "seconds": time.perf_counter() - start, **extra}, fh)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
