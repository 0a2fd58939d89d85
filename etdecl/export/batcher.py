"""Dynamic batching for the server: requests queue up, and one worker thread runs the model on
several of them at once (up to `batch_size` items, waiting at most `max_wait` seconds for more
after the first), then hands each request its own slice. One thread owns the model, so the
event loop never blocks on it and torch never runs two forwards at once."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("etdecl.serve")

Predict = Callable[[list[dict]], list[dict]]
"""Items → one prediction per item, in order."""


@dataclass
class _Job:
    items: list[dict]
    future: Future = field(default_factory=Future)


_STOP = object()


@dataclass
class BatchStats:
    requests: int = 0
    items: int = 0
    batches: int = 0


class Batcher:
    """Queue of requests in front of one worker thread that calls `predict` on batches."""

    def __init__(self, predict: Predict, batch_size: int = 32, max_wait: float = 0.005) -> None:
        if batch_size < 1:
            raise ValueError(f"--batch-size must be at least 1, not {batch_size}")
        if max_wait < 0:
            raise ValueError(f"--max-wait-ms must be 0 or more, not {max_wait * 1000:g}")
        self.predict, self.batch_size, self.max_wait = predict, batch_size, max_wait
        self.stats = BatchStats()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="etdecl-serve-model",
                                        daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closed

    def submit(self, items: list[dict]) -> Future:
        """A future of the items' predictions (or of the exception predicting them raised)."""
        job = _Job(items)
        with self._lock:
            if self._closed:
                raise RuntimeError("the server is shutting down")
            self._queue.put(job)
        return job.future

    def close(self, timeout: float | None = None) -> None:
        """Finish the queued requests, then stop the worker."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)

    # ── the worker thread ─────────────────────────────────────────────────────────────────
    def _work(self) -> None:
        carry: _Job | None = None
        stopping = False
        while not stopping:
            first = carry if carry is not None else self._queue.get()
            carry = None
            if first is _STOP:
                break
            jobs, n = [first], len(first.items)
            deadline = time.monotonic() + self.max_wait
            while n < self.batch_size:
                try:
                    job = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    break
                if job is _STOP:
                    stopping = True
                    break
                if n + len(job.items) > self.batch_size:
                    carry = job  # starts the next batch, so a batch never outgrows batch_size
                    break
                jobs.append(job)
                n += len(job.items)
            self._run(jobs)

    def _run(self, jobs: list[_Job]) -> None:
        items = [item for job in jobs for item in job.items]
        try:
            preds = self.predict(items)
        except Exception as e:  # noqa: BLE001 - handed to the request(s) that caused it
            if len(jobs) > 1:  # one bad request must not fail the others batched with it
                for job in jobs:
                    self._run([job])
                return
            jobs[0].future.set_exception(e)
            return
        self.stats.requests += len(jobs)
        self.stats.items += len(items)
        self.stats.batches += 1
        start = 0
        for job in jobs:
            job.future.set_result(preds[start : start + len(job.items)])
            start += len(job.items)
