"""Multi-task sampling: proportions follow the strategy, and the schedule replays exactly."""

import numpy as np
import pytest

from etdecl.data.mixing import batch_numbers, dataset_weights, schedule


@pytest.mark.parametrize(("strategy", "expected"), [
    ("proportional", [0.8, 0.2]),
    ("temperature", [2 / 3, 1 / 3]),  # sqrt(800)=2*sqrt(200)
    ("round_robin", [0.5, 0.5]),
])
def test_proportions(strategy: str, expected: list[float]) -> None:
    sizes = [800, 200]
    assert dataset_weights(sizes, strategy, 2.0) == pytest.approx(expected)
    choices = schedule(sizes, 20_000, strategy, seed=3)
    share = np.bincount(choices, minlength=2) / len(choices)
    assert share == pytest.approx(expected, abs=0.015)


def test_schedule_is_a_function_of_seed_and_step() -> None:
    a = schedule([5, 7, 9], 500, "proportional", seed=1)
    b = schedule([5, 7, 9], 800, "proportional", seed=1)
    assert np.array_equal(a, b[:500])
    assert not np.array_equal(a, schedule([5, 7, 9], 500, "proportional", seed=2))
    assert schedule([5], 4, "temperature", 0).tolist() == [0, 0, 0, 0]


def test_batch_numbers_count_per_dataset() -> None:
    assert batch_numbers(np.array([0, 1, 0, 0, 1])).tolist() == [0, 0, 1, 2, 1]
