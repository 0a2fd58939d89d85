"""Worker of bench/memory_estimate.py (under torchrun): peak RSS of training vs the estimate."""

from __future__ import annotations

import ctypes
import json
import sys
import threading
import time
from pathlib import Path

import psutil
import torch.distributed as dist

from etdecl.engine.launch import init_distributed
from etdecl.engine.layout import bert_part_sizes, plan_ranks
from etdecl.engine.trainer import Trainer
from etdecl.plan import typical_length
from etdecl.quiet import quiet_third_party
from etdecl.recipe import load_recipe
from etdecl.recipe.modelinfo import encoder_shape


class PeakRSS(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.01)


def preload_libraries() -> None:
    """Import what `setup` would import (ColossalAI's plugins, shardformer, HybridAdam, the BERT
    modelling code) before the baseline: their pages (~140 MiB) are libraries, not the model."""
    import colossalai.booster  # noqa: F401
    import colossalai.nn.optimizer  # noqa: F401
    import transformers.models.bert.modeling_bert  # noqa: F401

    import etdecl.compile  # noqa: F401
    import etdecl.engine.plugins  # noqa: F401
    import etdecl.engine.shard_policy  # noqa: F401


def main() -> None:
    quiet_third_party()
    recipe, run_dir, out, steps, *overrides = sys.argv[1:]
    loaded = load_recipe(recipe, overrides)
    init_distributed(loaded.recipe.train.seed, single=False)
    trainer = Trainer(loaded, Path(run_dir))
    preload_libraries()
    baseline = psutil.Process().memory_info().rss
    trainer.setup()
    after_setup = psutil.Process().memory_info().rss
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # what of setup is live, not kept by the allocator
    trimmed_setup = psutil.Process().memory_info().rss - baseline
    sampler = PeakRSS()
    sampler.start()
    step_peaks = []
    for i, micro in enumerate(trainer.batches.epoch(0)):
        trainer.train_step(micro)
        step_peaks.append((sampler.peak - baseline) / 2**20)
        if i + 1 >= int(steps):
            break
    sampler.running = False
    sampler.join()
    r = loaded.recipe
    name = next(iter(r.encoders))
    shape = encoder_shape(r.encoders[name], loaded.origin_dir("encoders", name, "model"))
    head = next(iter(r.heads.values()))
    labels = len(head.labels)
    parts = bert_part_sizes(shape, head=shape.hidden * labels + labels)
    micro_batch = trainer.batches.global_batch // trainer.strategy.dp_size
    seq = typical_length(trainer.data.train[0].feats.lengths(), micro_batch, r.data.max_length)
    est = plan_ranks(r.parallel, shape, parts, dist.get_world_size(), r.train.batch_size,
                     r.train.grad_accum, seq)[dist.get_rank()]
    Path(f"{out}.rank{dist.get_rank()}").write_text(json.dumps({
        "baseline_mib": baseline / 2**20, "setup_mib": (after_setup - baseline) / 2**20,
        "peak_mib": sampler.peak / 2**20,
        "measured_mib": (sampler.peak - baseline) / 2**20, "estimate_mib": est.total / 2**20,
        "parts_mib": {k: v / 2**20 for k, v in est.memory.items()},
        "buffers_mib": {k: v / 2**20 for k, v in est.detail.items()}, "seq": seq,
        "step_peaks_mib": step_peaks, "trimmed_setup_mib": trimmed_setup / 2**20}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
