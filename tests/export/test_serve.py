"""`etdecl serve` as a client meets it: real servers (the CLI in subprocesses on free ports of
127.0.0.1) called over HTTP with httpx. Answers equal `predict_records` on the same rows for
every input shape (classify text, tag words, span question + context); every kind of bad
request is a 4xx naming its field; concurrent requests are batched and each gets its own
answers; SIGTERM lets an in-flight request finish and exits 0."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from export_support import KINDS

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--max-batch", "8", "--max-text-chars", "300", "--max-request-bytes", "8192",
         "--batch-size", "8", "--max-wait-ms", "30"]
SERVERS = {"classify": ("classify", SMALL), "span": ("span", []),
           "tag": ("tag", ["--max-wait-ms", "1000", "--batch-size", "64"])}
"""Server name → (fixture run kind, flags). `tag` holds each batch 1 s, so the shutdown test
(the last in this file) can send SIGTERM while a request is in flight."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, run_dir: Path, flags: list[str], log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "etdecl.cli", "serve", str(run_dir), "--host", "127.0.0.1",
             "--port", str(self.port), *flags],
            env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"))  # noqa: SIM115

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: "
                                     f"{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"server not ready after {timeout} s: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


@pytest.fixture(scope="module")
def servers(runs, tmp_path_factory):
    """All servers of the module, started together (their start-ups overlap)."""
    logs = tmp_path_factory.mktemp("serve-logs")
    started = {name: Server(runs(kind), flags, logs / f"{name}.log")
               for name, (kind, flags) in SERVERS.items()}
    try:
        for server in started.values():
            server.wait_ready()
        yield started
    finally:
        for server in started.values():
            server.stop()


def _rows(kind: str, n: int, seed: int) -> list[dict]:
    return KINDS[kind][1](n, seed)


def _expected(run_dir: Path, rows: list[dict]) -> list[dict]:
    from etdecl.engine.inference import load_run, predict_records

    preds = predict_records(load_run(run_dir), rows)
    return [({"id": r["id"]} if "id" in r else {}) | p for r, p in zip(rows, preds, strict=True)]


def _same(got, want, path="") -> None:
    """Equal, floats to 1e-5 (batches pad differently, and probabilities are rounded to 6
    places, so the last digit may differ)."""
    if isinstance(want, float):
        assert got == pytest.approx(want, abs=1e-5), path
    elif isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), path
        for k in want:
            _same(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _same(g, w, f"{path}[{i}]")
    else:
        assert got == want, path


def _post(server: Server, payload, **kw) -> httpx.Response:
    return httpx.post(server.url + "/predict", json=payload, timeout=30, **kw)


@pytest.mark.parametrize("kind", ["classify", "tag", "span"])
def test_predict_answers_as_predict_records(servers, runs, kind):
    rows = _rows(kind, 6, 5)
    rows[0]["id"] = "first"  # echoed when present, as predict echoes it
    response = _post(servers[kind], {"inputs": rows})
    assert response.status_code == 200, response.text
    _same(response.json(), {"predictions": _expected(runs(kind), rows)})


def test_health_and_info(servers, runs):
    from etdecl.engine.inference import load_run

    health = httpx.get(servers["classify"].url + "/health").json()
    assert health["status"] == "ok" and health["model_loaded"] is True
    run = load_run(runs("span"))
    info = httpx.get(servers["span"].url + "/info").json()
    assert info["recipe"] == "export-span" and info["fingerprint"] == run.loaded.fingerprint
    assert info["datasets"] == {"main": {"fields": ["question", "context"], "heads": ["qa"]}}
    assert info["heads"]["qa"]["type"] == "span"
    tag = httpx.get(servers["tag"].url + "/info").json()
    labels = load_run(runs("tag")).loaded.recipe.heads["ner"].labels
    assert tag["heads"]["ner"] == {"type": "tag", "labels": list(labels), "datasets": ["main"]}
    assert tag["datasets"]["main"]["fields"] == ["tokens"]
    small = httpx.get(servers["classify"].url + "/info").json()["limits"]
    assert small == {"max_request_bytes": 8192, "max_batch": 8, "max_text_chars": 300,
                     "batch_size": 8, "max_wait_ms": 30.0}


JSON = {"Content-Type": "application/json"}
BAD = {
    "not JSON": (dict(content=b'{"inputs": [', headers=JSON), 400, "body"),
    "not UTF-8": (dict(content=b'{"inputs": [{"text": "\xff"}]}', headers=JSON), 400, "body"),
    "wrong content type": (dict(content=b'{"inputs": [{"text": "a"}]}',
                                headers={"Content-Type": "text/plain"}), 415, "content-type"),
    "no content type": (dict(content=b'{"inputs": [{"text": "a"}]}'), 415, "content-type"),
    "body not an object": (dict(json=[{"text": "a"}]), 422, "body"),
    "missing inputs": (dict(json={"rows": [{"text": "a"}]}), 422, "inputs"),
    "inputs not a list": (dict(json={"inputs": {"text": "a"}}), 422, "inputs"),
    "empty inputs": (dict(json={"inputs": []}), 422, "inputs"),
    "item not an object": (dict(json={"inputs": [{"text": "a"}, "b"]}), 422, "inputs[1]"),
    "missing field": (dict(json={"inputs": [{"text": "a"}, {"txt": "b"}]}), 422,
                      "inputs[1].text"),
    "wrong type": (dict(json={"inputs": [{"text": 5}]}), 422, "inputs[0].text"),
    "null text": (dict(json={"inputs": [{"text": None}]}), 422, "inputs[0].text"),
    "empty text": (dict(json={"inputs": [{"text": "  "}]}), 422, "inputs[0].text"),
    "lone surrogate": (dict(content=b'{"inputs": [{"text": "a\\ud800"}]}', headers=JSON), 422,
                       "inputs[0].text"),
    "text too long": (dict(json={"inputs": [{"text": "a"}, {"text": "b" * 301}]}), 422,
                      "inputs[1].text"),
    "too many items": (dict(json={"inputs": [{"text": "a"}] * 9}), 413, "inputs"),
    "body too large": (dict(json={"inputs": [{"text": "a", "note": "x" * 9000}]}), 413, "body"),
    "body too large, chunked": (dict(content=iter([b'{"inputs": [{"text": "a", "n": "',
                                                   b"x" * 9000, b'"}]}']), headers=JSON),
                                413, "body"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_request_is_a_4xx_naming_its_field(servers, case):
    kwargs, status, field = BAD[case]
    response = httpx.post(servers["classify"].url + "/predict", timeout=30, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["field"] == field and error["message"]
    assert "Traceback" not in response.text


@pytest.mark.parametrize("server, item, field", [
    ("tag", {"tokens": "alice went home"}, "inputs[0].tokens"),
    ("tag", {"tokens": ["alice", ""]}, "inputs[0].tokens"),
    ("tag", {"tokens": ["w" * 6000, "v" * 4000]}, "inputs[0].tokens"),  # 10,001 with the space
    ("span", {"question": "who"}, "inputs[0].context"),
    ("span", {"question": ["who"], "context": "bob"}, "inputs[0].question"),
])
def test_bad_items_of_other_tasks(servers, server, item, field):
    response = _post(servers[server], {"inputs": [item]})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize("method, route, status", [
    ("GET", "/predict", 405), ("POST", "/health", 405), ("GET", "/nope", 404),
    ("POST", "/predict/x", 404),
])
def test_unknown_route_or_method(servers, method, route, status):
    response = httpx.request(method, servers["classify"].url + route, json={"inputs": []})
    assert response.status_code == status
    assert response.json()["error"]["field"] is None


def test_concurrent_requests_are_batched_and_answered_alone(servers, runs):
    server = servers["classify"]
    pool = [{"text": r["text"], "id": f"r{i}"} for i, r in enumerate(_rows("classify", 40, 9))]
    want = {p["id"]: p for p in _expected(runs("classify"), pool)}
    before = httpx.get(server.url + "/health").json()
    failures: list[str] = []
    sent = 0

    def client(seed: int) -> None:
        nonlocal sent
        rng = random.Random(seed)
        with httpx.Client(timeout=60) as http:
            for j in range(4):
                if j == 2 and seed % 4 == 0:  # a bad request among good ones fails alone
                    bad = http.post(server.url + "/predict", json={"inputs": [{"text": ""}]})
                    if bad.status_code != 422:
                        failures.append(f"bad request got {bad.status_code}")
                    continue
                rows = rng.sample(pool, rng.randint(1, 5))
                got = http.post(server.url + "/predict", json={"inputs": rows})
                sent += 1
                try:
                    assert got.status_code == 200, got.text
                    _same(got.json()["predictions"], [want[r["id"]] for r in rows])
                except AssertionError as e:
                    failures.append(str(e))

    threads = [threading.Thread(target=client, args=(s,)) for s in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    after = httpx.get(server.url + "/health").json()
    assert after["requests"] - before["requests"] == sent
    assert after["batches"] - before["batches"] < sent  # requests shared forward passes


def test_internal_error_is_a_500_without_traceback(runs, monkeypatch):
    """In-process (TestClient): a model failure answers 500 with the error shape."""
    from fastapi.testclient import TestClient

    from etdecl.engine.inference import load_run
    from etdecl.export import serve as serve_module

    def broken(*_a, **_k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(serve_module, "predict_records", broken)
    app = serve_module.create_app(load_run(runs("classify")))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/predict", json={"inputs": [{"text": "a"}]})
        assert client.get("/health").json()["status"] == "ok"
    assert response.status_code == 500
    assert response.json() == {"error": {"message": "internal server error (logged by the "
                                                    "server)", "field": None}}
    assert "secret" not in response.text


@pytest.mark.parametrize("flags, message", [
    ([], "--dataset"),
    (["--dataset", "sent", "--max-batch", "0"], "--max-batch"),
])
def test_cli_refuses_before_serving(runs, flags, message):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "etdecl.cli", "serve", str(runs("two-datasets")),
                           "--port", str(_free_port()), *flags], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_serves_an_onnx_bundle_through_onnx_runtime(runs, tmp_path):
    """A bundle exported with --format onnx, served with --backend onnx: the CRF tag head's
    answers are predict's (Viterbi in etdecl on ONNX Runtime's emissions)."""
    from etdecl.engine.inference import load_model
    from etdecl.export.bundle import write_bundle
    from etdecl.export.onnx_export import export_onnx

    run = load_model(runs("tag-crf"))
    bundle = write_bundle(run, tmp_path / "bundle", extra=lambda folder: {
        "onnx": {p.stem: str(p.relative_to(folder)) for p in export_onnx(run, folder)}})
    server = Server(bundle, ["--backend", "onnx"], tmp_path / "onnx.log")
    try:
        server.wait_ready()
        assert httpx.get(server.url + "/info").json()["runtime"] == "onnx fp32"
        rows = _rows("tag-crf", 6, 5)
        response = _post(server, {"inputs": rows})
        assert response.status_code == 200, response.text
        _same(response.json(), {"predictions": _expected(runs("tag-crf"), rows)})
    finally:
        server.stop()
    assert server.proc.returncode == 0, server.log.read_text()


def test_sigterm_finishes_in_flight_request_and_exits_0(servers, runs):
    server = servers["tag"]
    result: dict = {}
    rows = [{"tokens": ["alice", "went", "to", "new", "york"]}]

    def ask() -> None:
        result["response"] = _post(server, {"inputs": rows})

    thread = threading.Thread(target=ask)
    thread.start()
    time.sleep(0.4)  # the request now waits in the batcher (1 s)
    server.proc.send_signal(signal.SIGTERM)
    thread.join(30)
    assert server.proc.wait(30) == 0, server.log.read_text()
    assert result["response"].status_code == 200
    _same(result["response"].json()["predictions"], _expected(runs("tag"), rows))
    with pytest.raises(httpx.ConnectError):  # nothing listens any more ...
        httpx.get(server.url + "/health")
    with socket.socket() as s:  # ... and the port can be listened on again (as servers do,
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT)
        s.bind(("127.0.0.1", server.port))
        s.listen()
    log = server.log.read_text()
    assert "Traceback" not in log and "Finished server process" in log
