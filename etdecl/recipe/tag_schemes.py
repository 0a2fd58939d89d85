"""Tagging schemes (BIO, BIOES): which tag may follow which. Torch-free, so `validate` can
check a tag head's labels and data rows, and the CRF can forbid the same transitions."""

from __future__ import annotations

from collections.abc import Sequence

SCHEMES = ("bio", "bioes")


def split_tag(tag: str) -> tuple[str, str | None]:
    """'B-PER' → ('B', 'PER'); 'O' → ('O', None)."""
    if tag == "O":
        return "O", None
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix not in {"B", "I", "E", "S"} or not kind:
        raise ValueError(f"tag '{tag}' is neither O nor PREFIX-TYPE with PREFIX in B/I/E/S")
    return prefix, kind


def scheme_problem(tags: Sequence[str], scheme: str) -> str | None:
    """Why `tags` (one sentence) cannot be in `scheme`, or None if they are well formed."""
    prefixes = {"bio": {"O", "B", "I"}, "bioes": {"O", "B", "I", "E", "S"}}[scheme]
    prev: tuple[str, str | None] = ("O", None)
    for i, tag in enumerate(tags):
        try:
            cur = split_tag(tag)
        except ValueError as err:
            return str(err)
        if cur[0] not in prefixes:
            return f"tag '{tag}' (word {i + 1}) uses prefix {cur[0]}, which {scheme.upper()} lacks"
        if not _allowed(prev, cur, scheme):
            before = "start" if i == 0 else f"'{tags[i - 1]}'"
            return f"tag '{tag}' (word {i + 1}) cannot follow {before} in {scheme.upper()}"
        prev = cur
    if scheme == "bioes" and prev[0] in {"B", "I"}:
        return f"the last tag '{tags[-1]}' leaves an entity open (BIOES ends one with E or S)"
    return None


def _allowed(prev: tuple[str, str | None], cur: tuple[str, str | None], scheme: str) -> bool:
    p, pk = prev
    c, ck = cur
    if scheme == "bio":
        return c != "I" or (p in {"B", "I"} and pk == ck)
    # bioes: an entity is S, or B I* E of one type
    inside = p in {"B", "I"}
    if c in {"I", "E"}:
        return inside and pk == ck
    return not inside
