"""`train.sampling: domain_balanced`: every domain equally represented each epoch, seeded per
(seed, epoch), replayed on resume, split over ranks like the one-process batch, and composed
with bucketed batches and several datasets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from etdecl.data.balance import balanced_order
from etdecl.data.tokens import DatasetFeatures, TrainBatches
from etdecl.tasks.base import Example, Features


def _dataset(domains: list[str | None], index: int = 0, name: str = "main",
             vocab: dict[str, int] | None = None) -> DatasetFeatures:
    """One-feature examples whose first token is 1000 + example id (a batch says which
    examples it holds), of varied lengths, with the given domains."""
    rng = np.random.default_rng(index)
    lengths = rng.integers(2, 30, len(domains))
    ids = np.concatenate([[1000 + i] + [7] * (int(k) - 1) for i, k in enumerate(lengths)])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    feats = Features(ids.astype(np.int32), np.zeros(len(ids), np.int8), offsets,
                     np.arange(len(lengths), dtype=np.int64))
    examples = [Example(name, i, {}, {}, d, "f", i + 1) for i, d in enumerate(domains)]
    vocab = vocab or {d: i for i, d in enumerate(sorted({d for d in domains if d}))}
    return DatasetFeatures(name, index, feats, [], 0, examples, domains=vocab)


def _skewed(n: int = 400, seed: int = 0) -> list[str]:
    """Domains 70/20/10 %: random order would be far from balanced."""
    rng = np.random.default_rng(seed)
    return list(rng.choice(["books", "dvd", "kitchen"], n, p=[0.7, 0.2, 0.1]))


def _batches(tb: TrainBatches, epoch: int) -> list[list[int]]:
    out = []
    for micro in tb.epoch(epoch):
        ids = []
        for m in micro:
            assert m["input_ids"][:, 0].tolist() == [1000 + i for i in m["index"].tolist()]
            ids += m["index"].tolist()
        out.append(ids)
    return out


@pytest.mark.parametrize("batching", ["random", "bucketed"])
@pytest.mark.parametrize("batch", [16, 30])
def test_each_epoch_draws_every_domain_equally(batching, batch):
    domains = _skewed()
    ds = _dataset(domains)
    tb = TrainBatches([ds], batch, 1, 0, 1, 5, epochs=3, batching=batching, bucket_window=4,
                      sampling="domain_balanced")
    for epoch in range(3):
        drawn = [domains[i] for b in _batches(tb, epoch) for i in b]
        counts = [drawn.count(d) for d in ("books", "dvd", "kitchen")]
        assert max(counts) - min(counts) <= batch, counts
        assert len(drawn) == tb.steps_per_epoch * batch == (len(domains) // batch) * batch
    random = TrainBatches([ds], batch, 1, 0, 1, 5, batching=batching, bucket_window=4)
    drawn = [domains[i] for b in _batches(random, 0) for i in b]
    assert drawn.count("books") > 2 * drawn.count("dvd")  # the test can tell them apart


def test_every_global_batch_is_balanced_without_bucketing():
    domains = _skewed(600, seed=1)
    tb = TrainBatches([_dataset(domains)], 12, 1, 0, 1, 9, sampling="domain_balanced")
    for b in _batches(tb, 0):
        counts = [sum(domains[i] == d for i in b) for d in ("books", "dvd", "kitchen")]
        assert max(counts) - min(counts) <= 1, counts


def test_small_domains_repeat_whole_passes_and_large_ones_are_resampled_each_epoch():
    domains = _skewed(300, seed=2)
    small = {i for i, d in enumerate(domains) if d == "kitchen"}
    tb = TrainBatches([_dataset(domains)], 10, 1, 0, 1, 4, epochs=2, sampling="domain_balanced")
    seen = [[i for b in _batches(tb, e) for i in b] for e in range(2)]
    assert small <= set(seen[0])  # every example of the small domain is drawn
    books = [[i for i in s if domains[i] == "books"] for s in seen]
    assert len(books[0]) == len(set(books[0]))  # no repeat within the large domain's sample
    assert set(books[0]) != set(books[1])  # a fresh sample each epoch


def test_order_is_seeded_and_redrawn_each_epoch():
    ds = _dataset(_skewed())

    def make(seed: int) -> TrainBatches:
        return TrainBatches([ds], 16, 1, 0, 1, seed, epochs=2, sampling="domain_balanced")

    assert _batches(make(3), 0) == _batches(make(3), 0)
    assert _batches(make(3), 0) != _batches(make(4), 0)
    assert _batches(make(3), 0) != _batches(make(3), 1)


@pytest.mark.parametrize("batching", ["random", "bucketed"])
@pytest.mark.parametrize("start", [1, 7, 23])
def test_resume_at_step_k_replays_the_rest_of_the_epoch(batching, start):
    """A fresh TrainBatches, as a resumed run builds, yields the uninterrupted tail."""
    ds = _dataset(_skewed())
    args = dict(epochs=2, batching=batching, sampling="domain_balanced")
    whole = _batches(TrainBatches([ds], 16, 1, 0, 1, 11, **args), 1)
    fresh = TrainBatches([_dataset(_skewed())], 16, 1, 0, 1, 11, **args)
    tail = [[i for m in micro for i in m["index"].tolist()] for micro in fresh.epoch(1, start)]
    assert tail == whole[start:]


@pytest.mark.parametrize(("world", "accum"), [(2, 1), (2, 2), (4, 1)])
@pytest.mark.parametrize("batching", ["random", "bucketed"])
def test_ranks_slices_make_up_the_one_process_batch(world, accum, batching):
    ds = _dataset(_skewed())
    args = dict(batching=batching, sampling="domain_balanced")
    one = _batches(TrainBatches([ds], 32, 1, 0, 1, 2, **args), 0)
    ranks = [_batches(TrainBatches([ds], 32, world, r, accum, 2, **args), 0)
             for r in range(world)]
    for step, batch in enumerate(one):
        assert [i for r in range(world) for i in ranks[r][step]] == batch


def test_several_datasets_are_balanced_each_and_keep_their_own_orders():
    a_domains = _skewed(320, seed=3)
    b_domains = ["x"] * 30 + ["y"] * 130
    vocab = {"books": 0, "dvd": 1, "kitchen": 2, "x": 3, "y": 4}
    a = _dataset(a_domains, 0, "a", vocab)
    b = _dataset(b_domains, 1, "b", vocab)
    tb = TrainBatches([a, b], 16, 1, 0, 1, 3, epochs=1, mixing="round_robin",
                      sampling="domain_balanced")
    drawn: dict[str, list[str]] = {"a": [], "b": []}
    for step in range(tb.steps_per_epoch):
        ds, index = tb.step_batch(step)
        names = a_domains if ds.name == "a" else b_domains
        drawn[ds.name] += [names[int(ds.feats.example[i])] for i in index]
    for name, want in (("a", ("books", "dvd", "kitchen")), ("b", ("x", "y"))):
        counts = [drawn[name].count(d) for d in want]
        assert max(counts) - min(counts) <= 16, (name, counts)


def test_rows_without_a_domain_form_a_group_and_one_domain_is_a_plain_shuffle():
    gen = torch.Generator().manual_seed(0)
    ids = np.asarray([0] * 90 + [-1] * 10)
    order = balanced_order(ids, gen)
    assert len(order) == 100 and (ids[order] == -1).sum() == 50
    same = balanced_order(np.zeros(50, dtype=np.int64),
                          torch.Generator().manual_seed(0))
    assert sorted(same.tolist()) == list(range(50))
