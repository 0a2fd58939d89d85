"""The `bayes` selector's weight search: it must find the feature that marks harmful source
examples, beat a random selection of the same size, and repeat itself under the same seed."""

from __future__ import annotations

import numpy as np
import pytest

from etdecl.engine.selectors.bayes_search import proxy_accuracy, search, top_indices

NAMES = ["js_divergence", "types"]


def flipped_label_problem(seed: int = 0) -> dict[str, np.ndarray]:
    """Source: half clean, half with flipped labels and a stronger signal (so a random half
    teaches the wrong direction); column `types` of the features marks the clean half, column
    `js_divergence` is noise. Target train (few) and dev are clean."""
    rng = np.random.default_rng(seed)

    def sample(n: int, strength: float) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, size=n)
        x = rng.normal(size=(n, 4))
        x[:, 0] += strength * (2 * y - 1)
        return x, y

    n = 120
    clean_x, clean_y = sample(n // 2, 1.0)
    noisy_x, noisy_y = sample(n // 2, 3.0)
    source_x = np.concatenate([clean_x, noisy_x])
    source_y = np.concatenate([clean_y, 1 - noisy_y])
    clean = np.arange(n) < n // 2
    features = np.column_stack([rng.normal(size=n), clean + 0.1 * rng.normal(size=n)])
    order = rng.permutation(n)
    target_x, target_y = sample(6, 1.0)
    dev_x, dev_y = sample(300, 1.0)
    return {"features": features[order], "source_x": source_x[order],
            "source_y": source_y[order], "clean": clean[order], "target_x": target_x,
            "target_y": target_y, "dev_x": dev_x, "dev_y": dev_y}


def run(p: dict[str, np.ndarray], seed: int = 7, **kw: object):
    return search(p["features"], len(p["clean"]) // 2, p["source_x"], p["source_y"],
                  p["target_x"], p["target_y"], p["dev_x"], p["dev_y"], trials=15, seed=seed,
                  names=NAMES, **kw)


def test_search_keeps_the_clean_half_and_beats_a_random_half() -> None:
    p = flipped_label_problem()
    calls: list[tuple[int, float]] = []
    result = run(p, progress=lambda trial, best: calls.append((trial, best)))
    assert p["clean"][result.kept].mean() >= 0.9
    assert result.weights["types"] > 0
    rng = np.random.default_rng(1)
    n = len(p["clean"])
    random_acc = np.mean([
        proxy_accuracy(np.concatenate([p["source_x"][half], p["target_x"]]),
                       np.concatenate([p["source_y"][half], p["target_y"]]),
                       p["dev_x"], p["dev_y"])
        for half in (rng.permutation(n)[: n // 2] for _ in range(5))])
    assert result.best_accuracy > random_acc + 0.15
    assert result.best_accuracy > result.all_accuracy
    assert result.best_accuracy == max(acc for _, acc in result.history)
    # the reported selection is the top of the reported scores
    assert np.array_equal(result.kept, top_indices(result.scores, n // 2))
    # progress: once per trial, numbered from 0, best-so-far never falls
    assert [t for t, _ in calls] == list(range(15))
    assert all(b2 >= b1 for (_, b1), (_, b2) in zip(calls, calls[1:], strict=False))
    assert [t for t, _ in result.history] == list(range(15))


def test_first_trial_is_equal_weights_on_similarity_features() -> None:
    p = flipped_label_problem()
    result = search(p["features"], 60, p["source_x"], p["source_y"], p["target_x"],
                    p["target_y"], p["dev_x"], p["dev_y"], trials=1, seed=0, names=NAMES)
    assert result.weights == {"js_divergence": 1.0, "types": 0.0}


def test_same_seed_same_result() -> None:
    p = flipped_label_problem()
    a, b = run(p, seed=3), run(p, seed=3)
    assert a.weights == b.weights
    assert np.array_equal(a.kept, b.kept)
    assert a.history == b.history


def test_mapping_of_columns_names_the_weights() -> None:
    p = flipped_label_problem()
    cols = {"types": p["features"][:, 1], "entropy": p["features"][:, 0]}
    result = search(cols, 60, p["source_x"], p["source_y"], p["target_x"], p["target_y"],
                    p["dev_x"], p["dev_y"], trials=2, seed=0)
    assert set(result.weights) == {"types", "entropy"}


def test_ties_break_by_index() -> None:
    assert top_indices(np.array([1.0, 2.0, 1.0, 1.0, 0.0]), 3).tolist() == [0, 1, 2]


def test_reference_points() -> None:
    x = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    y = np.array([0, 0, 1, 1])
    assert proxy_accuracy(x, y, x, y) == 1.0
    # one class only: predicts it
    assert proxy_accuracy(x[:2], y[:2], x, y) == 0.5


def test_bad_arguments_are_reported() -> None:
    p = flipped_label_problem()
    args = (p["source_x"], p["source_y"], p["target_x"], p["target_y"], p["dev_x"], p["dev_y"])
    with pytest.raises(ValueError, match="names"):
        search(p["features"], 60, *args, trials=1, seed=0)
    with pytest.raises(ValueError, match="keep_n"):
        search(p["features"], 0, *args, trials=1, seed=0, names=NAMES)
