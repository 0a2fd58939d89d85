"""Layer maps of the distillation objectives: which teacher layer each student layer learns from.

Torch-free (used by `validate` and by the training methods). Layer 0 is the embedding output,
layer i the i-th transformer layer (HF `hidden_states[i]`).
"""

from __future__ import annotations

from typing import Any


def resolve_layer_map(spec: Any, student_layers: int, teacher_layers: int) -> list[tuple[int, int]]:
    """`uniform`: student layer s (1..S) <- teacher layer round(s*T/S); `last`: student layer s
    <- teacher layer T-S+s; explicit `[[s, t], ...]` pairs as given."""
    s_n, t_n = int(student_layers), int(teacher_layers)
    if spec == "uniform":
        return [(s, round(s * t_n / s_n)) for s in range(1, s_n + 1)]
    if spec == "last":
        return [(s, t_n - s_n + s) for s in range(1, s_n + 1)]
    return [(int(p[0]), int(p[1])) for p in spec]
