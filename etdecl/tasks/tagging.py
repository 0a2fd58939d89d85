"""Sequence labelling pieces: tag schemes (BIO, BIOES), word → word-piece alignment, the
transitions a scheme allows (for the CRF), and entity-level scores from seqeval.

Words are labelled on their first word piece; the other pieces get IGNORE, so losses and
predictions stay per word, which is what entity scoring counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..recipe.tag_schemes import _allowed, split_tag

IGNORE = -100
"""Target of pieces that carry no label (special tokens, non-first pieces, padding)."""

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
