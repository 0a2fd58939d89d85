"""`etdecl serve`: answer predictions over HTTP from a run directory or a bundle. FastAPI,
uvicorn and torch are imported only when the command runs, so `etdecl --help` stays fast."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from .use_run import Backend, DatasetOpt, Precision, _fail, _forward, _load, _precision_used

_LIMITS = "Limits"
_BATCHING = "Batching"


def serve(
    model: Annotated[Path, typer.Argument(help="A run directory or an exported bundle.")],
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine "
                                           "only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    dataset: DatasetOpt = None,
    backend: Backend = "torch",
    precision: Precision = "recipe",
    max_request_bytes: Annotated[int, typer.Option(
        help="Largest request body in bytes; larger ones get 413.",
        rich_help_panel=_LIMITS)] = 1 << 20,
    max_batch: Annotated[int, typer.Option(
        help="Most items in one request; more get 413.", rich_help_panel=_LIMITS)] = 64,
    max_text_chars: Annotated[int, typer.Option(
        help="Most characters in one text field (a tag head's words counted with spaces); "
             "longer get 422.", rich_help_panel=_LIMITS)] = 10_000,
    batch_size: Annotated[int, typer.Option(
        help="Most items the model runs at once, gathered from concurrent requests.",
        rich_help_panel=_BATCHING)] = 32,
    max_wait_ms: Annotated[float, typer.Option(
        help="How long the first request of a batch waits for others to join it.",
        rich_help_panel=_BATCHING)] = 5.0,
    access_log: Annotated[bool, typer.Option(
        "--access-log", help="Log every request (off: one line per request costs time under "
                             "load).")] = False,
) -> None:
    """Serve a model over HTTP: POST /predict {"inputs": [{<field>: ...}, ...]} answers what
    `etdecl predict` writes for those rows; GET /health; GET /info (recipe, fingerprint,
    heads, labels, fields, limits). Ctrl-C or SIGTERM finishes in-flight requests and exits 0.

    Example: `etdecl serve runs/quickstart --port 8080`, then
    `curl -H 'Content-Type: application/json' -d '{"inputs": [{"text": "a gem"}]}'
    http://127.0.0.1:8080/predict`
    """
    from ..engine.inference import RunError

    try:
        from ..export.limits import ServeLimits

        limits = ServeLimits(max_request_bytes, max_batch, max_text_chars)
    except ValueError as e:
        raise _fail(e) from None
    run = _load(model, "best")
    forward = _forward(run, dataset, backend, precision)
    from ..export.serve import serve as run_server

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    try:
        run_server(run, host, port, dataset, limits, batch_size, max_wait_ms, access_log,
                   forward, f"{backend} {_precision_used(run, backend, precision)}")
    except (RunError, ValueError, OSError) as e:
        raise _fail(e) from None
