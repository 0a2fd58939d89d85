"""Tag schemes, alignment and entity scores on hand-made cases."""

import pytest

from etdecl.recipe.tag_schemes import scheme_problem
from etdecl.tasks.tagging import (
    IGNORE,
    align_to_pieces,
    entity_scores,
    first_piece_positions,
    transition_masks,
)


@pytest.mark.parametrize(
    ("tags", "scheme", "problem"),
    [
        (["B-PER", "I-PER", "O"], "bio", None),
        (["O", "I-PER"], "bio", "cannot follow 'O'"),
        (["B-PER", "I-LOC"], "bio", "cannot follow 'B-PER'"),
        (["S-PER", "B-LOC", "E-LOC"], "bioes", None),
        (["B-PER", "O"], "bioes", "cannot follow 'B-PER'"),
        (["B-PER"], "bioes", "leaves an entity open"),
        (["S-PER"], "bio", "prefix S, which BIO lacks"),
        (["PER"], "bio", "neither O nor PREFIX-TYPE"),
    ],
)
def test_scheme_problems(tags, scheme, problem) -> None:
    found = scheme_problem(tags, scheme)
    assert (found is None) if problem is None else (problem in found)


def test_transition_masks_follow_bio() -> None:
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    allowed, start = transition_masks(labels, "bio")
    assert not allowed[0, 2] and allowed[1, 2] and allowed[2, 2] and not allowed[1, 4]
    assert start.tolist() == [True, True, False, True, False]


def test_alignment_labels_first_pieces_only() -> None:
    word_ids = [None, 0, 0, 1, 2, 2, 2, None]
    assert align_to_pieces(word_ids, [5, 6, 7]) == [IGNORE, 5, IGNORE, 6, 7, IGNORE, IGNORE,
                                                     IGNORE]
    assert first_piece_positions(word_ids) == [1, 3, 4]


def test_entity_scores_are_entity_level() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "O", "O", "B-LOC"]]  # the PER entity is cut short: wrong as an entity
    s = entity_scores(gold, pred, "bio")
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(0.5)
    assert s["f1[LOC]"] == 1.0 and s["f1[PER]"] == 0.0
