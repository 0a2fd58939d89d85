"""The server's batcher alone (no model): requests queued together share one call, no call
outgrows batch_size, each request gets its own slice, a failing request fails alone, and
closing finishes the queued work."""

from __future__ import annotations

import threading
import time

import pytest

from etdecl.export.batcher import Batcher


class Model:
    """Doubles each item's number; refuses a batch holding an item marked bad."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.gate = threading.Event()

    def __call__(self, items: list[dict]) -> list[dict]:
        self.gate.wait(5)
        if any(i.get("bad") for i in items):
            raise ValueError("bad item")
        self.calls.append(len(items))
        return [{"out": i["n"] * 2} for i in items]


def test_queued_requests_share_calls_and_get_their_own_slices():
    model = Model()
    batcher = Batcher(model, batch_size=8, max_wait=0.5)
    sizes = [3, 2, 4, 1, 5, 3]
    jobs = []
    n = 0
    for size in sizes:  # queued while the model is held: they batch together
        items = [{"n": n + k} for k in range(size)]
        n += size
        jobs.append((items, batcher.submit(items)))
    model.gate.set()
    for items, future in jobs:
        assert future.result(5) == [{"out": i["n"] * 2} for i in items]
    assert max(model.calls) <= 8 and sum(model.calls) == sum(sizes)
    assert len(model.calls) < len(sizes)
    assert batcher.stats.requests == len(sizes) and batcher.stats.batches == len(model.calls)
    batcher.close()


def test_a_failing_request_fails_alone():
    model = Model()
    batcher = Batcher(model, batch_size=16, max_wait=0.5)
    good = batcher.submit([{"n": 1}, {"n": 2}])
    bad = batcher.submit([{"n": 3, "bad": True}])
    other = batcher.submit([{"n": 4}])
    model.gate.set()
    assert good.result(5) == [{"out": 2}, {"out": 4}]
    assert other.result(5) == [{"out": 8}]
    with pytest.raises(ValueError, match="bad item"):
        bad.result(5)
    batcher.close()


def test_close_finishes_queued_work_then_refuses():
    model = Model()
    batcher = Batcher(model, batch_size=1, max_wait=0)
    futures = [batcher.submit([{"n": k}]) for k in range(4)]
    threading.Timer(0.2, model.gate.set).start()
    started = time.monotonic()
    batcher.close(timeout=10)
    assert [f.result(0) for f in futures] == [[{"out": 2 * k}] for k in range(4)]
    assert model.calls == [1, 1, 1, 1] and time.monotonic() - started >= 0.2
    assert not batcher.alive
    with pytest.raises(RuntimeError, match="shutting down"):
        batcher.submit([{"n": 0}])


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"max_wait": -1}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        Batcher(Model(), **kwargs)
