"""Under torchrun: train 3 steps, checkpoint, restore into a fresh Trainer, compare tensors.

Usage: roundtrip_worker.py RECIPE RUN_DIR OUT_JSON [--set-style overrides...]
Each rank writes OUT_JSON.rank<R> with the keys that differ (none when the round trip holds).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from etdecl.engine.launch import init_distributed
from etdecl.engine.trainer import Trainer
from etdecl.quiet import quiet_third_party
from etdecl.recipe import load_recipe


def flat(obj, prefix=""):
    """Every tensor in a nested state dict, by path (scalars too, as tensors)."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flat(v, f"{prefix}.{k}"))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(flat(v, f"{prefix}[{i}]"))
    elif isinstance(obj, torch.Tensor):
        out[prefix] = obj.detach().clone().float()
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix] = torch.tensor(float(obj))
    return out


def snapshot(trainer):
    model = flat(dict(trainer.model.state_dict()))
    optim = flat(trainer.optimizer.state_dict())
    return model, optim


def main() -> None:
    quiet_third_party()
    recipe, run_dir, out, *overrides = sys.argv[1:]
    loaded = load_recipe(recipe, overrides)
    init_distributed(loaded.recipe.train.seed, single=False)
    first = Trainer(loaded, Path(run_dir))
    first.setup()
    for micro in first.batches.epoch(0):
        first.train_step(micro)
        first.step += 1
        first.step_in_epoch += 1
        if first.step == 3:
            break
    first.save_checkpoint()
    model_a, optim_a = snapshot(first)
    second = Trainer(loaded, Path(run_dir), resume=True)
    second.setup()
    model_b, optim_b = snapshot(second)
    bad = [k for k in model_a if k not in model_b or not torch.equal(model_a[k], model_b[k])]
    bad += [k for k in optim_a if k not in optim_b or not torch.equal(optim_a[k], optim_b[k])]
    rank = torch.distributed.get_rank()
    Path(f"{out}.rank{rank}").write_text(json.dumps({
        "model_tensors": len(model_a), "optimizer_tensors": len(optim_a), "mismatch": bad,
        "step": second.step}))
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
