"""Layer maps of the distillation objectives: which teacher layer each student layer learns
from. One torch-free function the checks (`check_teachers.py`), the losses and the cache share.

Layers count as Hugging Face's `hidden_states` do: 0 is the embedding output, i the output of
transformer layer i (its attentions are `attentions[i - 1]`).

- `uniform`: student layer s (1..S) ← teacher layer round(s·T/S) (TinyBERT, PKD); T ≥ S.
- `last`: student layer s ← teacher layer T − S + s (the top layers); T ≥ S.
- explicit `[[s, t], ...]`: as written (student 1..S, teacher 1..T, each student layer once).
"""

from __future__ import annotations

from collections.abc import Sequence

LayerSpec = str | Sequence[Sequence[int]]


def resolve_layer_map(spec: LayerSpec, student_layers: int,
                      teacher_layers: int) -> list[tuple[int, int]]:
    """(student layer, teacher layer) pairs of a map. Raises ValueError for a map that does not
    fit the two depths (`layer_map_problems` says what is wrong in words)."""
    problems = layer_map_problems(spec, student_layers, teacher_layers)
    if problems:
        raise ValueError("; ".join(problems))
    s_n, t_n = student_layers, teacher_layers
    if spec == "uniform":
        return [(s, round(s * t_n / s_n)) for s in range(1, s_n + 1)]
    if spec == "last":
        return [(s, t_n - s_n + s) for s in range(1, s_n + 1)]
    return [(int(s), int(t)) for s, t in spec]


def layer_map_problems(spec: LayerSpec, student_layers: int, teacher_layers: int) -> list[str]:
    """What is wrong with a layer map for these depths (empty when it fits)."""
    s_n, t_n = student_layers, teacher_layers
    if isinstance(spec, str):
        if spec not in ("uniform", "last"):
            return [f"unknown layer map '{spec}' (expected uniform, last or [[s, t], ...])"]
        if s_n < 1 or t_n < 1:
            return [f"a layer map needs layers on both sides (student {s_n}, teacher {t_n})"]
        if t_n < s_n:
            return [f"'{spec}' maps each of the student's {s_n} layers to a distinct teacher "
                    f"layer, but the teacher has only {t_n}"]
        return []
    problems: list[str] = []
    seen: set[int] = set()
    for pair in spec:
        s, t = int(pair[0]), int(pair[1])
        if not 1 <= s <= s_n:
            problems.append(f"student layer {s} of [{s}, {t}] is out of range: the student has "
                            f"{s_n} layer(s) (1..{s_n})")
        if not 1 <= t <= t_n:
            problems.append(f"teacher layer {t} of [{s}, {t}] is out of range: the teacher has "
                            f"{t_n} layer(s) (1..{t_n})")
        if s in seen:
            problems.append(f"student layer {s} is mapped twice")
        seen.add(s)
    return problems


def pair_problems(spec: LayerSpec, student_layers: int,
                  teacher_layers: int) -> list[tuple[int | None, str]]:
    """Like `layer_map_problems`, with the index of the explicit pair each problem is about
    (None for `uniform`/`last`), so a check can point at the pair."""
    if isinstance(spec, str):
        return [(None, p) for p in layer_map_problems(spec, student_layers, teacher_layers)]
    out: list[tuple[int | None, str]] = []
    for i in range(len(spec)):
        earlier = [tuple(p) for p in spec[:i]]
        for problem in layer_map_problems([spec[i]], student_layers, teacher_layers):
            out.append((i, problem))
        s = int(spec[i][0])
        if any(int(p[0]) == s for p in earlier):
            out.append((i, f"student layer {s} is mapped twice"))
    return out
