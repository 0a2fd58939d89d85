"""Gradual unfreezing (`train.unfreeze: gradual`, XtremeDistil, ULMFiT): at first only the top
transformer layer of each `hf` encoder trains, with everything outside the encoders (heads,
towers, method modules); one more layer thaws from the top at equal intervals of the training's
steps, the embeddings last, so an encoder of L layers passes through L + 1 phases.

The optimizer holds every trainable parameter from the start (the plugin boosts once): a still
frozen parameter keeps its gradient off (`p.grad = None` after backward, before clipping), and
AdamW skips a parameter without a gradient (no update, no weight decay, no moment change).
Layers under `freeze_layers` or `freeze_embeddings` have no gradient at all and never thaw.
"""

from __future__ import annotations

from torch import nn


class GradualUnfreeze:
    def __init__(self, encoders: dict[str, nn.Module], total_steps: int) -> None:
        self.total = max(1, total_steps)
        self.layers: dict[str, int] = {}
        self.params: dict[str, list[tuple[int, nn.Parameter]]] = {}
        for name, enc in encoders.items():
            n = enc.n_layers
            depths = []
            for pname, p in enc.named_parameters():
                depth = enc.layer_of(pname)
                if depth is not None and p.requires_grad:
                    depths.append((depth, p))
            self.layers[name] = n
            self.params[name] = depths

    def phase(self, name: str, step: int) -> int:
        """0 (top layer only) … L (embeddings too) at optimizer step `step` (0-based)."""
        n = self.layers[name]
        return min(n, step * (n + 1) // self.total)

    def unfrozen(self, step: int) -> dict[str, int]:
        """Encoder → thawed parts at `step`: transformer layers from the top, then the
        embeddings (L + 1 when everything trains)."""
        return {name: self.phase(name, step) + 1 for name in self.layers}

    def is_frozen(self, name: str, depth: int, step: int) -> bool:
        """Depth 0 = embeddings, i = transformer layer i (1-based)."""
        n = self.layers[name]
        return depth <= n - 1 - self.phase(name, step)

    def apply(self, step: int) -> None:
        """Drop the gradients of parameters still frozen at `step`."""
        for name, params in self.params.items():
            for depth, p in params:
                if self.is_frozen(name, depth, step):
                    p.grad = None

    def log_values(self, step: int) -> dict[str, int]:
        counts = self.unfrozen(step)
        if len(counts) == 1:
            return {"unfrozen_layers": next(iter(counts.values()))}
        return {f"unfrozen_layers.{k}": v for k, v in counts.items()}
