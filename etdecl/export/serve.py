"""`etdecl serve`: a FastAPI app in front of a loaded run or bundle.

`POST /predict` answers what `etdecl predict` writes for the same rows; `GET /health` and
`GET /info` describe the server. Every refusal is a JSON `{"error": {"message", "field"}}`
with a 4xx status; an unexpected failure is a 500 with the same shape, logged, with no
traceback in the response. The model runs in a worker thread that batches concurrent
requests (etdecl/export/batcher.py); SIGINT and SIGTERM finish in-flight requests, stop the
worker and exit 0.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .. import __version__
from ..datafiles.readers import DataError
from ..engine.inference import LoadedRun, pick_dataset, predict_records
from .batcher import Batcher
from .limits import (
    RequestError,
    ServeLimits,
    check_content_type,
    check_declared_size,
    field_of,
    input_fields,
    parse_request,
    too_large,
)

log = logging.getLogger("etdecl.serve")


def describe(run: LoadedRun, dataset: str, limits: ServeLimits, batch_size: int,
             max_wait_ms: float) -> dict[str, Any]:
    """What `GET /info` returns: enough for a client to build requests and read answers."""
    compiled = run.compiled
    return {
        "recipe": run.loaded.recipe.name,
        "fingerprint": run.loaded.fingerprint,
        "etdecl_version": __version__,
        "serving": dataset,
        "datasets": {
            name: {"fields": input_fields([compiled.tasks[h] for h in heads]),
                   "heads": list(heads)}
            for name, heads in compiled.dataset_heads.items()
        },
        "heads": {
            name: {"type": task.kind, "labels": getattr(task, "labels", None),
                   "datasets": [d for d, hs in compiled.dataset_heads.items() if name in hs]}
            for name, task in compiled.tasks.items()
        },
        "limits": {**limits.as_dict(), "batch_size": batch_size, "max_wait_ms": max_wait_ms},
    }


def _error(status: int, message: str, field: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(RequestError(status, message, field).body(), status, headers=headers)


async def _read_body(request: Request, limits: ServeLimits) -> bytes:
    check_declared_size(request.headers.get("content-length"), limits)
    chunks, size = [], 0
    async for chunk in request.stream():  # a chunked body has no Content-Length to trust
        size += len(chunk)
        too_large(size, limits)
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(run: LoadedRun, dataset: str | None = None, limits: ServeLimits | None = None,
               batch_size: int = 32, max_wait_ms: float = 5.0, forward=None,
               runtime: str = "torch fp32") -> FastAPI:
    """The app serving `run`'s heads of `dataset` (the only one, unless the recipe has
    several), through `forward` (default: the graph in torch, fp32; `runtime` names it in
    /info). The batcher starts and stops with the app's lifespan."""
    limits = limits or ServeLimits()
    if batch_size < 1 or max_wait_ms < 0:
        raise ValueError(f"--batch-size must be at least 1 and --max-wait-ms 0 or more "
                         f"(got {batch_size} and {max_wait_ms:g})")
    view = pick_dataset(run, dataset)
    tasks = [run.compiled.tasks[h] for h in run.compiled.dataset_heads[view.name]]
    info = describe(run, view.name, limits, batch_size, max_wait_ms)
    info["runtime"] = runtime
    state: dict[str, Batcher] = {}

    def predict(items: list[dict]) -> list[dict]:
        return predict_records(run, items, view.name, batch_size=batch_size, forward=forward)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["batcher"] = Batcher(predict, batch_size, max_wait_ms / 1000)
        try:
            yield
        finally:  # uvicorn has let in-flight requests finish by now
            await asyncio.to_thread(state["batcher"].close)

    app = FastAPI(title=f"etdecl: {info['recipe']}", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        message = {404: "no such route: use POST /predict, GET /health or GET /info",
                   405: "method not allowed on this route"}.get(exc.status_code, str(exc.detail))
        return _error(exc.status_code, message, None, exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.error("internal error", exc_info=exc)
        return _error(500, "internal server error (logged by the server)")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        batcher = state.get("batcher")
        ok = batcher is not None and batcher.alive
        stats = vars(batcher.stats) if batcher else {}
        return {"status": "ok" if ok else "stopping", "model_loaded": True, **stats}

    @app.get("/info")
    async def get_info() -> dict[str, Any]:
        return info

    @app.post("/predict")
    async def post_predict(request: Request) -> JSONResponse:
        try:
            check_content_type(request.headers.get("content-type"))
            items = parse_request(await _read_body(request, limits), tasks, limits)
        except RequestError as e:
            return JSONResponse(e.body(), e.status)
        try:
            future = state["batcher"].submit(items)
        except RuntimeError as e:
            return _error(503, str(e))
        try:
            preds = await asyncio.wrap_future(future)
        except DataError as e:  # parse_request reads rows as predict does; kept as a guard
            return _error(422, e.message, field_of(e, e.line - 1))
        except Exception as e:  # noqa: BLE001 - answered as a 500, logged, no traceback sent
            log.error("predicting a request failed", exc_info=e)
            return _error(500, "internal server error (logged by the server)")
        out = [({"id": item["id"]} if "id" in item else {}) | pred
               for item, pred in zip(items, preds, strict=True)]
        return JSONResponse({"predictions": out})

    return app


def serve(run: LoadedRun, host: str = "127.0.0.1", port: int = 8000,
          dataset: str | None = None, limits: ServeLimits | None = None,
          batch_size: int = 32, max_wait_ms: float = 5.0, access_log: bool = False,
          forward=None, runtime: str = "torch fp32") -> None:
    """Run the app with uvicorn until SIGINT or SIGTERM, then return normally (exit 0)."""
    import uvicorn

    app = create_app(run, dataset, limits, batch_size, max_wait_ms, forward, runtime)
    # The model, tokenizers and libraries live as long as the server: keep the cycle
    # collector from walking them again on every collection (pauses of ~200 ms otherwise).
    gc.collect()
    gc.freeze()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info",
                                           access_log=access_log, lifespan="on"))
    # uvicorn re-raises the signal it stopped on once it has shut down; with the default
    # handlers that would end the process with -SIGTERM or a KeyboardInterrupt, not 0.
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if not server.started:
        raise OSError(f"could not serve on {host}:{port} (see the log above)")
