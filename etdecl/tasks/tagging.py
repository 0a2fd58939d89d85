"""Sequence labelling pieces: tag schemes (BIO, BIOES), word → word-piece alignment, the
transitions a scheme allows (for the CRF), and entity-level scores from seqeval.

Words are labelled on their first word piece; the other pieces get IGNORE, so losses and
predictions stay per word, which is what entity scoring counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

IGNORE = -100
"""Target of pieces that carry no label (special tokens, non-first pieces, padding)."""

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


def transition_masks(labels: Sequence[str], scheme: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(allowed[from, to], allowed_start[to]) for the CRF; the start acts as an 'O' before."""
    parsed = [split_tag(t) for t in labels]
    n = len(labels)
    allowed = torch.ones(n, n, dtype=torch.bool)
    for i, a in enumerate(parsed):
        for j, b in enumerate(parsed):
            allowed[i, j] = _allowed(a, b, scheme)
    start = torch.tensor([_allowed(("O", None), b, scheme) for b in parsed])
    return allowed, start


def align_to_pieces(word_ids: Sequence[int | None], word_labels: Sequence[int]) -> list[int]:
    """One target per piece: the word's label on its first piece, IGNORE on every other piece
    (specials, later pieces of a word, words cut off by truncation are simply absent)."""
    out: list[int] = []
    prev = None
    for w in word_ids:
        out.append(IGNORE if w is None or w == prev else int(word_labels[w]))
        prev = w
    return out


def first_piece_positions(word_ids: Sequence[int | None]) -> list[int]:
    """Position of each word's first piece, in word order (truncated words are absent)."""
    seen: set[int] = set()
    out = []
    for pos, w in enumerate(word_ids):
        if w is not None and w not in seen:
            seen.add(w)
            out.append(pos)
    return out


def entity_scores(gold: list[list[str]], pred: list[list[str]], scheme: str) -> dict[str, float]:
    """Entity-level micro precision/recall/F1 (seqeval, strict mode for the given scheme),
    with per-type F1 beside them."""
    from seqeval.metrics import classification_report
    from seqeval.scheme import BILOU, IOB2, IOBES

    mode = {"bio": IOB2, "bioes": IOBES, "bilou": BILOU}[scheme]
    report = classification_report(
        gold, pred, mode="strict", scheme=mode, output_dict=True, zero_division=0
    )
    micro = report["micro avg"]
    out = {
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "f1": float(micro["f1-score"]),
    }
    for kind, row in report.items():
        if kind not in {"micro avg", "macro avg", "weighted avg"}:
            out[f"f1[{kind}]"] = float(row["f1-score"])
    return out
