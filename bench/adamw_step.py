"""AdamW step time on MiniLM-L6's parameters: the default per-tensor loop, foreach, and fused.

    python bench/adamw_step.py [--repeat 10]

Why: a bf16 training step on this CPU is ~0.6 s and the unfused AdamW loop was ~15 % of it
(bench/vs_trainer.py --profile); `make_optimizer` uses the fused kernel. Ratios against the loop,
measured in one process, interleaved.
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    from transformers import AutoModel

    from etdecl.recipe.aliases import resolve_model

    model = AutoModel.from_pretrained(str(resolve_model("minilm-l6")))
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    kinds = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(3):
        for kind, kw in kinds.items():
            opt = torch.optim.AdamW(params, lr=1e-4, **kw)
            opt.step()
            start = time.perf_counter()
            for _ in range(args.repeat):
                opt.step()
            times[kind].append((time.perf_counter() - start) / args.repeat)
    base = min(times["loop"])
    print(f"{sum(p.numel() for p in params) / 1e6:.1f}M parameters; best of 3 × {args.repeat}")
    for kind, t in times.items():
        print(f"{kind:8} {min(t) * 1000:7.1f} ms/step  {base / min(t):5.2f}× the loop")


if __name__ == "__main__":
    main()
