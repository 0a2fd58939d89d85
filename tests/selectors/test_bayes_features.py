"""Ruder & Plank's per-example features: similarity features are oriented larger = more
similar, the sparse computation matches a dense one, diversity features match hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from etdecl.engine.selectors.bayes_features import (
    FEATURES,
    SIMILARITY,
    SMOOTHING,
    feature_matrix,
    standardise,
)
from etdecl.recipe.schema_selectors import ALL_BAYES_FEATURES

TERM_SIMILARITY = [n for n in FEATURES if n in SIMILARITY and n != "embedding_cosine"]
DIVERSITY = [n for n in FEATURES if n not in SIMILARITY]


def ids(*tokens: int) -> np.ndarray:
    return np.array(tokens, dtype=np.int64)


def features(source: list[np.ndarray], target: list[np.ndarray], vocab: int = 50,
             names: list[str] | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    names = list(FEATURES) if names is None else names
    x = feature_matrix(names, source, target, vocab, rng.normal(size=(len(source), 3)),
                       rng.normal(size=(len(target), 3)))
    return {n: x[:, j] for j, n in enumerate(names)}


def test_names_follow_the_recipe() -> None:
    assert tuple(ALL_BAYES_FEATURES) == FEATURES
    assert set(FEATURES) > SIMILARITY
    assert DIVERSITY == ["types", "type_token_ratio", "entropy", "simpson", "renyi_entropy"]


def test_identical_distributions() -> None:
    example = ids(3, 3, 7, 9, 9, 9, 12)
    # the target is two examples whose pooled distribution is the example's
    f = features([example], [example, example[::-1]], names=TERM_SIMILARITY)
    for name in TERM_SIMILARITY:
        expected = 1.0 if name == "term_cosine" else 0.0
        assert f[name][0] == pytest.approx(expected, abs=1e-9), name


def test_target_like_example_is_more_similar_on_every_similarity_feature() -> None:
    target = [ids(1, 2, 3, 4), ids(2, 3, 4, 5), ids(1, 3, 5)]
    near, far = ids(1, 2, 3, 5), ids(30, 31, 32, 40)
    rng = np.random.default_rng(1)
    t_pooled = rng.normal(size=(3, 8)) + 5.0
    s_pooled = np.stack([t_pooled.mean(axis=0) + 0.1, -t_pooled.mean(axis=0)])
    x = feature_matrix(FEATURES, [near, far], target, 50, s_pooled, t_pooled)
    for j, name in enumerate(FEATURES):
        if name in SIMILARITY:
            assert x[0, j] > x[1, j], name
            if name != "term_cosine" and name != "embedding_cosine":
                assert x[0, j] <= 0.0 and x[1, j] < 0.0, name


def test_sparse_computation_matches_dense() -> None:
    rng = np.random.default_rng(2)
    vocab = 40
    source = [rng.integers(0, vocab, size=rng.integers(1, 15)) for _ in range(12)]
    target = [rng.integers(0, 20, size=10) for _ in range(5)]
    got = features(source, target, vocab, TERM_SIMILARITY)

    def smoothed(tokens: np.ndarray) -> np.ndarray:
        c = np.bincount(tokens, minlength=vocab).astype(float)
        return (1 - SMOOTHING) * c / c.sum() + SMOOTHING / vocab

    q = smoothed(np.concatenate(target))
    for i, tokens in enumerate(source):
        p = smoothed(tokens)
        m = (p + q) / 2
        a = 0.99
        expected = {
            "js_divergence": -(0.5 * np.sum(p * np.log(p / m)) + 0.5 * np.sum(q * np.log(q / m))),
            "renyi_divergence": -np.log(np.sum(p ** a * q ** (1 - a))) / (a - 1),
            "term_cosine": p @ q / np.linalg.norm(p) / np.linalg.norm(q),
            "euclidean": -np.linalg.norm(p - q),
            "variational": -np.abs(p - q).sum(),
            "bhattacharyya": np.log(np.sum(np.sqrt(p * q))),
        }
        for name, value in expected.items():
            assert got[name][i] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_diversity_features_by_hand() -> None:
    f = features([ids(1, 1, 2, 3), ids(5, 5, 5), ids()], [ids(1, 2)], names=DIVERSITY)
    p = np.array([0.5, 0.25, 0.25])
    assert f["types"].tolist() == [3.0, 1.0, 0.0]
    assert f["type_token_ratio"].tolist() == [0.75, pytest.approx(1 / 3), 0.0]
    assert f["entropy"][0] == pytest.approx(-(p * np.log(p)).sum())
    assert f["entropy"][0] == pytest.approx(1.5 * math.log(2))
    assert f["entropy"][1] == pytest.approx(0.0)
    assert f["simpson"].tolist() == [pytest.approx(0.375), pytest.approx(1.0), 0.0]
    assert f["renyi_entropy"][0] == pytest.approx(-math.log(0.375))
    assert f["renyi_entropy"][1] == pytest.approx(0.0)


def test_empty_source_example_is_finite() -> None:
    x = feature_matrix(FEATURES, [ids(), ids(1, 2)], [ids(1, 2)], 10,
                       np.ones((2, 2)), np.ones((1, 2)))
    assert np.isfinite(x).all()


def test_problems_are_reported() -> None:
    with pytest.raises(ValueError, match="unknown bayes features"):
        feature_matrix(["cosine"], [ids(1)], [ids(1)], 5, None, None)
    with pytest.raises(ValueError, match="id 9 outside"):
        feature_matrix(["entropy"], [ids(1, 9)], [ids(1)], 5, None, None)
    with pytest.raises(ValueError, match="target tokens"):
        feature_matrix(["js_divergence"], [ids(1)], [ids()], 5, None, None)
    with pytest.raises(ValueError, match="pooled"):
        feature_matrix(["embedding_cosine"], [ids(1)], [ids(1)], 5, None, None)


def test_standardise() -> None:
    x = np.array([[1.0, 4.0, 2.0], [2.0, 4.0, 2.0 + 1e-15], [3.0, 4.0, 2.0]])
    z = standardise(x)
    assert z[:, 0] == pytest.approx([-math.sqrt(1.5), 0.0, math.sqrt(1.5)])
    assert z[:, 1].tolist() == [0.0, 0.0, 0.0]
    assert z[:, 2].tolist() == [0.0, 0.0, 0.0]
