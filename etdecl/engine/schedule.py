"""Learning-rate schedule: linear warmup, then linear decay to zero."""

from __future__ import annotations


class LinearWarmupDecay:
    """A callable object (not a lambda) so LambdaLR's state_dict can save and restore it."""

    def __init__(self, warmup_steps: int, total_steps: int) -> None:
        self.warmup_steps = warmup_steps
        self.total_steps = max(1, total_steps)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        remaining = self.total_steps - step
        return max(0.0, remaining / max(1, self.total_steps - self.warmup_steps))
