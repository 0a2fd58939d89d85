"""Length-bucketed batching (`train.batching: bucketed`): less padding, the same examples per
epoch as random order, a pure function of (seed, epoch, dataset), and the same rank split."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from training_support import read_metrics, run_cli

from etdecl.data.bucketing import padding_fraction
from etdecl.data.tokens import DatasetFeatures, TrainBatches
from etdecl.tasks.base import Features

SHARED = Path(os.environ.get("ETDECL_SHARED_DATA", Path(__file__).parents[3] / "shared" / "data"))


def _dataset(lengths: np.ndarray, index: int = 0, name: str = "main") -> DatasetFeatures:
    """Features whose first token is 1000 + example id, with the given lengths, so a batch
    says exactly which examples it holds."""
    lengths = np.asarray(lengths, dtype=np.int64)
    ids = np.concatenate([[1000 + i] + [7] * (int(k) - 1) for i, k in enumerate(lengths)])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    feats = Features(ids.astype(np.int32), np.zeros(len(ids), np.int8), offsets,
                     np.arange(len(lengths), dtype=np.int64))
    return DatasetFeatures(name, index, feats, [], 0)


def _ids(micro: dict) -> list[int]:
    index = micro["index"].tolist()
    assert micro["input_ids"][:, 0].tolist() == [1000 + i for i in index]
    return index


def _lognormal(n: int, seed: int = 0, cap: int = 128) -> np.ndarray:
    """Review-like lengths: right-skewed, truncated at max_length."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(3.3, 0.7, n).astype(np.int64), 2, cap)


def _amazon_lengths(cap: int = 128) -> np.ndarray:
    """Word counts of the shared Amazon reviews (a stand-in for token counts), or skip."""
    path = SHARED / "multi_domain_sentiment" / "train.jsonl"
    if not path.is_file():
        pytest.skip(f"shared data not here: {path}")
    with path.open(encoding="utf-8") as f:
        words = [len(json.loads(line)["text"].split()) + 2 for line in f]
    return np.clip(np.asarray(words[:2000], dtype=np.int64), 2, cap)


def _global_batches(tb: TrainBatches, epoch: int) -> list[list[int]]:
    return [[i for m in micro for i in _ids(m)] for micro in tb.epoch(epoch)]


@pytest.mark.parametrize("source", ["lognormal", "amazon"])
@pytest.mark.parametrize(("batch", "window", "accum"), [(32, 50, 1), (16, 8, 2), (64, 4, 4)])
def test_bucketed_batches_carry_less_padding(source, batch, window, accum):
    lengths = _lognormal(2000) if source == "lognormal" else _amazon_lengths()
    ds = _dataset(lengths)
    fractions = {}
    for batching in ("random", "bucketed"):
        tb = TrainBatches([ds], batch, 1, 0, accum, 7, batching=batching, bucket_window=window)
        micro = [np.asarray(m["index"]) for step in tb.epoch(0) for m in step]
        fractions[batching] = padding_fraction(lengths, micro)
    assert fractions["bucketed"] < 0.5 * fractions["random"], fractions


@pytest.mark.parametrize(("n", "batch", "window"), [(70, 16, 1), (70, 16, 2), (300, 32, 50),
                                                    (257, 8, 3)])
def test_each_epoch_uses_the_examples_random_order_uses(n, batch, window):
    ds = _dataset(_lognormal(n, seed=n))
    for epoch in range(2):
        random = _global_batches(TrainBatches([ds], batch, 1, 0, 1, 5, epochs=2), epoch)
        bucketed = _global_batches(TrainBatches([ds], batch, 1, 0, 1, 5, epochs=2,
                                                batching="bucketed", bucket_window=window),
                                   epoch)
        flat = [i for b in bucketed for i in b]
        assert len(flat) == len(set(flat)) == (n // batch) * batch
        assert sorted(flat) == sorted(i for b in random for i in b)
        if window == 1:  # one batch per window: random's batches, each sorted, reordered
            assert sorted(map(sorted, bucketed)) == sorted(map(sorted, random))
        lengths = ds.feats.lengths()
        for b in bucketed:  # each global batch is a run of its length-sorted window
            assert list(lengths[b]) == sorted(lengths[b])


def test_bucketed_order_is_seeded_and_reshuffled_each_epoch():
    ds = _dataset(_lognormal(640, seed=3))

    def make(seed: int) -> TrainBatches:
        return TrainBatches([ds], 32, 1, 0, 1, seed, epochs=2, batching="bucketed",
                            bucket_window=4)

    assert _global_batches(make(1), 0) == _global_batches(make(1), 0)
    assert _global_batches(make(1), 0) != _global_batches(make(2), 0)
    assert _global_batches(make(1), 1) != _global_batches(make(1), 0)
    # batches are shuffled at the batch level: not in ascending length within a window
    maxima = [max(ds.feats.lengths()[b]) for b in _global_batches(make(1), 0)]
    assert maxima[:4] != sorted(maxima[:4]) or maxima[4:8] != sorted(maxima[4:8])


@pytest.mark.parametrize("start", [1, 5, 13])
def test_resume_mid_epoch_replays_the_remaining_batches(start):
    """A fresh TrainBatches (as a resumed run builds) yields the uninterrupted tail."""
    ds = _dataset(_lognormal(500, seed=9))
    args = dict(epochs=2, batching="bucketed", bucket_window=3)
    whole = TrainBatches([ds], 32, 1, 0, 1, 11, **args)
    uninterrupted = _global_batches(whole, 1)
    resumed = [[i for m in step for i in _ids(m)]
               for step in TrainBatches([ds], 32, 1, 0, 1, 11, **args).epoch(1, start)]
    assert resumed == uninterrupted[start:]


@pytest.mark.parametrize(("world", "accum"), [(2, 1), (2, 2), (4, 2)])
def test_ranks_slices_make_up_the_one_process_batch(world, accum):
    ds = _dataset(_lognormal(400, seed=4))
    args = dict(epochs=1, batching="bucketed", bucket_window=5)
    one = _global_batches(TrainBatches([ds], 32, 1, 0, 1, 2, **args), 0)
    ranks = [list(TrainBatches([ds], 32, world, r, accum, 2, **args).epoch(0))
             for r in range(world)]
    for s, whole in enumerate(one):
        parts = [[i for m in ranks[r][s] for i in _ids(m)] for r in range(world)]
        assert [len(m["index"]) for r in range(world) for m in ranks[r][s]] == \
            [32 // world // accum] * (world * accum)
        assert [i for p in parts for i in p] == whole


def test_several_datasets_mix_with_bucketed_batches():
    big, small = _dataset(_lognormal(96, 1), 0, "big"), _dataset(_lognormal(32, 2), 1, "small")
    args = dict(epochs=2, batching="bucketed", bucket_window=2)
    tb = TrainBatches([big, small], 16, 1, 0, 1, 3, **args)
    assert tb.steps_per_epoch == 8
    by_set: dict[int, list[int]] = {0: [], 1: []}
    for epoch in range(2):
        for step in tb.epoch(epoch):
            [d] = set(step[0]["dataset"].tolist())
            by_set[d] += _ids(step[0])
    assert all(by_set.values())
    for d, flat in by_set.items():  # within each of the dataset's own epochs, no repeats
        span = (6 if d == 0 else 2) * 16
        for start in range(0, len(flat), span):
            chunk = flat[start : start + span]
            assert len(chunk) == len(set(chunk))
    fresh = TrainBatches([big, small], 16, 1, 0, 1, 3, **args)
    assert [_ids(s[0]) for s in fresh.epoch(1, 3)] == [_ids(s[0]) for s in tb.epoch(1)][3:]


def test_tiny_recipe_trains_with_bucketed_batches(tiny_recipe, tmp_path):
    """The trainer takes `train.batching` from the recipe: other batches, other losses."""
    recipe = tiny_recipe(dropout=0.0)
    losses = {}
    for batching in ("random", "bucketed"):
        run = tmp_path / batching
        window = ["--set", "train.bucket_window=4"] if batching == "bucketed" else []
        proc = run_cli("train", str(recipe), "--run-dir", str(run), *window,
                       "--set", f"train.batching={batching}", "--set", "train.max_steps=2")
        assert proc.returncode == 0, proc.stderr
        train = [m for m in read_metrics(run) if m["split"] == "train"]
        assert [m["step"] for m in train] == [1, 2]
        assert json.loads((run / "result.json").read_text())["step"] == 2
        losses[batching] = [m["loss"] for m in train]
    assert losses["random"] != losses["bucketed"]


@pytest.mark.dist
def test_two_process_ddp_follows_one_process_with_bucketed_batches(tiny_recipe, tmp_path):
    recipe = tiny_recipe(epochs=1, dropout=0.0)
    sets = ["--set", "train.batching=bucketed", "--set", "train.bucket_window=4",
            "--set", "train.max_steps=6"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli("train", str(recipe), "--run-dir", str(one), *sets).returncode == 0
    proc = run_cli("train", str(recipe), "--run-dir", str(two), "--nproc", "2", *sets)
    assert proc.returncode == 0, proc.stderr
    l1 = [m["loss"] for m in read_metrics(one) if m["split"] == "train"]
    l2 = [m["loss"] for m in read_metrics(two) if m["split"] == "train"]
    assert len(l1) == len(l2) == 6
    for a, b in zip(l1, l2, strict=True):
        assert abs(a - b) <= 1e-3 * max(1.0, abs(a)), (l1, l2)


@pytest.mark.parametrize(("train", "error"), [
    ("bucket_window: 8", True),
    ("batching: random\n  bucket_window: 8", True),
    ("batching: bucketed\n  bucket_window: 8", False),
    ("batching: bucketed", False),
    ("batching: random", False),
])
def test_a_bucket_window_without_bucketed_batches_is_a_located_error(tmp_path, train, error):
    from etdecl.recipe.errors import RecipeError
    from etdecl.recipe.validate import load_recipe

    base = (Path(__file__).resolve().parents[1] / "assets" / "valid" / "base.yaml").read_text()
    recipe = tmp_path / "r.yaml"
    recipe.write_text(base.replace("../data/train.jsonl", "train.jsonl") + f"  {train}\n")
    try:
        load_recipe(recipe, [], check_data=False)
        problems = []
    except RecipeError as err:
        problems = err.problems
    assert [p.path for p in problems] == (["train.bucket_window"] if error else [])
    if error:
        line = recipe.read_text().splitlines().index("  bucket_window: 8") + 1
        rendered = problems[0].render()
        assert f"r.yaml:{line}:" in rendered and "batching: bucketed" in rendered, rendered
