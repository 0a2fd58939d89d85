"""SQuAD v1.1 scoring on hand-worked cases (values follow the official script's arithmetic)."""

import pytest

from etdecl.tasks.squad_metrics import exact_match, f1_score, normalize_answer, squad_scores


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  an   apple, a pear ", "apple pear"),
        ("Theatre", "theatre"),  # 'the' only as a whole word
        ("U.S.A.", "usa"),
        ("A", ""),
    ],
)
def test_normalisation(raw: str, norm: str) -> None:
    assert normalize_answer(raw) == norm


def test_f1_partial_overlap() -> None:
    # pred tokens: denver broncos (2), gold: broncos (1): P=1/2, R=1, F1=2/3
    assert f1_score("the Denver Broncos", "Broncos") == pytest.approx(2 / 3)
    assert f1_score("cats", "dogs") == 0.0
    assert exact_match("The Broncos.", "broncos") == 1.0


def test_best_over_all_gold_answers() -> None:
    scores = squad_scores(["Denver Broncos", "1990"], [["Broncos", "Denver Broncos"], ["1991"]])
    assert scores == {"exact_match": 50.0, "f1": 50.0}


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="2 predictions for 1"):
        squad_scores(["a", "b"], [["a"]])
