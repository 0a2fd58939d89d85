"""`etdecl serve` under a bounded local load: the quickstart model (MiniLM-L6 with a fresh head:
bench/untrained_run.py; speed does not depend on what the weights learnt) answering requests
of a few Rotten Tomatoes reviews (the quickstart's dev split, read as the recipe reads it).

Phases, each for --seconds; the first in this process, the others against a server started
with `etdecl serve` in a subprocess:
  in-process      `predict_records` on the same requests one at a time, no server: the
                  model's own time (tokenise, forward, decode) without HTTP and JSON
  one client      one client at a time (requests never meet in the batcher)
  8 clients       --clients concurrent clients, default batching (--batch-size 32,
                  --max-wait-ms 5): concurrent requests share forward passes
  8, unbatched    the same load against a second server with --batch-size equal to the items
                  of one request, so every forward pass runs one request: what dynamic
                  batching buys under the same concurrency
Figures per phase: requests/s, items/s, p50/p99 latency, errors (any non-200 or transport
error), and the server's mean items per forward pass (from /health). Ratios are against
`one client` of the same run.

    python bench/serve_load.py [--seconds 30] [--clients 8] [--items 4] [--quick]

Default: about 2.5 minutes on 2 cores (start-ups + 4 phases x 30 s). Run under the lock:
`flock /work/bench.lock python bench/serve_load.py`.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
RECIPE = ROOT / "recipes" / "quickstart.yaml"


def dev_texts() -> list[str]:
    from etdecl.data.examples import load_splits
    from etdecl.recipe import load_recipe

    return [e.inputs["text"] for e in load_splits(load_recipe(RECIPE)).dev]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run_dir: Path, flags: list[str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "etdecl.cli", "serve", str(run_dir),
                             "--port", str(port), *flags], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("server did not start in 60 s")


def load(url: str, texts: list[str], clients: int, items: int, seconds: float) -> dict:
    """`clients` threads, each sending requests of `items` texts back to back for `seconds`."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    counter = itertools.count()
    stop_at = time.perf_counter() + seconds
    before = httpx.get(url + "/health").json()

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while time.perf_counter() < stop_at:
                start = next(counter) * items
                batch = [{"text": texts[(start + i) % len(texts)]} for i in range(items)]
                t0 = time.perf_counter()
                try:
                    ok = http.post(url + "/predict", json={"inputs": batch}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                dt = time.perf_counter() - t0
                with lock:
                    if ok:
                        latencies.append(dt)
                    else:
                        errors[0] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    after = httpx.get(url + "/health").json()
    lat = sorted(latencies)
    batches = after["batches"] - before["batches"]
    return {"requests_s": len(lat) / wall, "items_s": len(lat) * items / wall,
            "p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
            "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat
            else float("nan"),
            "errors": errors[0], "requests": len(lat),
            "per_pass": (after["items"] - before["items"]) / max(batches, 1)}


def in_process(run_dir: Path, texts: list[str], items: int, seconds: float,
               precision: str) -> dict:
    """The same requests, one at a time, as `predict_records` calls in this process: the
    model's own time, without HTTP, JSON or the batcher."""
    from functools import partial

    from etdecl.engine.inference import load_run, predict_records, torch_forward

    run = load_run(run_dir)
    predict = partial(predict_records, forward=torch_forward(run, precision))
    return _in_process(run, predict, texts, items, seconds)


def _in_process(run, predict_records, texts: list[str], items: int, seconds: float) -> dict:
    predict_records(run, [{"text": t} for t in texts[:items]])  # warm-up
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    started = time.perf_counter()
    for k in itertools.count():
        if time.perf_counter() >= stop_at:
            break
        batch = [{"text": texts[(k * items + i) % len(texts)]} for i in range(items)]
        t0 = time.perf_counter()
        predict_records(run, batch)
        latencies.append(time.perf_counter() - t0)
    wall = time.perf_counter() - started
    lat = sorted(latencies)
    return {"requests_s": len(lat) / wall, "items_s": len(lat) * items / wall,
            "p50_ms": 1000 * statistics.median(lat),
            "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
            "errors": 0, "requests": len(lat), "per_pass": float(items)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--items", type=int, default=4, help="texts per request")
    ap.add_argument("--precision", default="recipe",
                    help="the server's --precision (recipe: the quickstart's bf16)")
    ap.add_argument("--quick", action="store_true", help="5 s phases (a smoke run)")
    args = ap.parse_args()
    seconds = 5.0 if args.quick else args.seconds
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # As the etdecl CLI (so the server) runs: etdecl/cli.py raises the cycle collector's
    # threshold. At Python's default, collections over torch's objects added a ~200 ms tail
    # to one in ten in-process calls (0.56x the throughput), and would slow the clients too.
    gc.set_threshold(100_000, 50, 100)

    from untrained_run import untrained_run

    from etdecl.quiet import quiet_third_party

    quiet_third_party()
    texts = dev_texts()
    with tempfile.TemporaryDirectory() as tmp:
        run = untrained_run(RECIPE, Path(tmp) / "run")
        rows: dict[str, dict] = {"in-process": in_process(run, texts, args.items, seconds,
                                                          args.precision)}
        flags = ["--precision", args.precision]
        proc, url = start_server(run, flags)
        try:
            load(url, texts, 1, args.items, 2.0)  # warm-up: first calls allocate
            rows["one client"] = load(url, texts, 1, args.items, seconds)
            rows[f"{args.clients} clients"] = load(url, texts, args.clients, args.items,
                                                   seconds)
        finally:
            proc.terminate()
            proc.wait(60)
        proc, url = start_server(run, [*flags, "--batch-size", str(args.items)])
        try:
            load(url, texts, 1, args.items, 2.0)
            rows[f"{args.clients}, unbatched"] = load(url, texts, args.clients, args.items,
                                                      seconds)
        finally:
            proc.terminate()
            proc.wait(60)
    base = rows["one client"]["items_s"]
    print(f"serve load: quickstart model (MiniLM-L6), --precision {args.precision}, "
          f"{args.items} texts per request, {seconds:g} s per phase, {os.cpu_count()} CPUs")
    print(f"{'phase':<14} {'req/s':>7} {'items/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6} {'items/pass':>10} {'vs one':>7}")
    for name, r in rows.items():
        print(f"{name:<14} {r['requests_s']:7.1f} {r['items_s']:8.1f} {r['p50_ms']:8.1f} "
              f"{r['p99_ms']:8.1f} {r['errors']:6d} {r['per_pass']:10.1f} "
              f"{r['items_s'] / base:6.2f}x")


if __name__ == "__main__":
    main()
