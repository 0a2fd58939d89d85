"""Cross-checks for recipes that are well formed but that training would reject.

Each would otherwise cost a model load and minutes of tokenising before failing; `validate`
already reads what they need (the first data rows, the encoder's config.json, the alias table).
Registered with the same decorators as the checks in `check.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .aliases import MODEL_ALIASES, alias_for, alias_hint, looks_like_hub_id
from .check import _err, check, data_check
from .errors import Problem, did_you_mean
from .validate import LoadedRecipe


def _listed(items: list[str]) -> str:
    return "one of " + ", ".join(f"'{x}'" for x in items)


@check
def model_is_not_a_hub_id(lr: LoadedRecipe) -> Iterator[Problem]:
    """`org/name` that is no folder: etdecl never downloads, so training could not load it."""
    for name, enc in lr.recipe.encoders.items():
        for key in ("model", "tokenizer"):
            value = getattr(enc, key)
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
        key = "model" if enc.model is not None else "config"
        limit = max_tokens(enc, lr.origin_dir("encoders", name, key))
        if limit is None or want <= limit[0]:
            continue
        path = ("data", "max_length")
        if path not in lr.tree.values:  # the default: point at the encoder instead
            path = ("encoders", name, key)
        yield _err(lr, path, f"data.max_length ({want}) is more than encoder '{name}' can take: "
                   f"{limit[0]} tokens (max_position_embeddings in {limit[1]})",
                   expected=f"at most {limit[0]}", found=str(want))


def _peek(lr: LoadedRecipe, split: str) -> tuple[str, list] | None:
    """(shown name, first rows) of a split's file; None when it cannot be read (the checks in
    `check.py` report why)."""
    from ..data.readers import DataError, peek_rows
    from ..data.sources import locate

    src = getattr(lr.recipe.data, split)
    if src is None or (src.path is None) == (src.package is None) or (
            src.path is None and src.resource is None):
        return None
    try:
        path, shown = locate(lr, split)
        if not Path(path).is_file():
            return None
        return shown, peek_rows(path, shown, src.format, on_bad_line=lambda _err: None)
    except (DataError, OSError, ValueError):
        return None


def _norm(value: object) -> str:
    """A data value as training compares it (`true`, not `True`)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


@data_check
def data_labels_known(lr: LoadedRecipe) -> Iterator[Problem]:
    """Labels in the rows `validate` peeks at (after `where`) are among each head's labels."""
    data = lr.recipe.data
    where = {k: {_norm(v) for v in vs} for k, vs in data.where.items()}
    skip = data.on_bad_row == "skip"
    for split in ("train", "dev"):
        peeked = _peek(lr, split)
        if peeked is None:
            continue
        shown, rows = peeked
        seen: set[str] = set()
        for row in rows:
            values = row.values
            if data.fields.label not in values or any(
                    k in values and _norm(values[k]) not in ok for k, ok in where.items()):
                continue
            label = _norm(values[data.fields.label])
            if label in seen:
                continue
            seen.add(label)
            for head_name, head in lr.recipe.heads.items():
                if label in head.labels or len(head.labels) < 2:  # too few: reported already
                    continue
                yield Problem(  # worded as training would say it, where the rows are
                    f"{shown}:{row.line}: data error: label '{label}' is not one of the "
                    "head's labels" + (" (under on_bad_row: skip, such rows are skipped)"
                                       if skip else ""),
                    loc=lr.where("heads", head_name, "labels"),
                    path=f"heads.{head_name}.labels", expected=_listed(head.labels),
                    found=f"'{label}'", hint=did_you_mean(label, head.labels),
                    severity="warning" if skip else "error")
