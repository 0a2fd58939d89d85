"""Streaming token store (`data.stream`): peak memory and tokenisation throughput by data size.

    python bench/token_store.py [--sizes 10000 100000 1000000] [--quick]

For each size the script writes synthetic JSONL reviews into a temporary directory, then runs
each measurement in a fresh process while sampling the memory of its whole process tree (the
tokenising pool included; proportional set size, so pages a forked worker shares with its
parent count once) every 50 ms:
  store 1st  build the store (rows read in chunks, tokenised by the pool) + read the batches
  store 2nd  the same again: the complete store is reused (file hash + memory maps)
  threads    store 1st without a pool: tokenised in-process by the tokenizer's own threads
  pool 1     store 1st with one pool worker (shown when the default has no pool: < 3 cores)
  in-memory  today's path: every row an Example, tokenised into memory (`encode_cached`)
"peak MB" is the tree's peak PSS minus the PSS after imports and the tokenizer load;
"anon MB" the same for anonymous memory (without the memory-mapped store's reclaimable page
cache). Batches are
`--batches` training batches of 32 drawn by `TrainBatches` from the store. The tokenizer is
the real `minilm-l6`; max_length 128. Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's etdecl, also in the measured processes
WORDS = """the a movie film story plot actor actress director script scene music camera cast
great superb lovely wonderful brilliant moving charming delightful awful dull boring tedious
clumsy bland lifeless dreadful really quite very not never always sometimes product battery
screen sound quality price delivery arrived broken works perfectly recommend return refund
customer service months years kitchen phone headphones cheap expensive worth waiting
disappointed happy surprised comfortable unbelievably characters ending beginning soundtrack
performance dialogue pacing cinematography""".split()  # noqa: SIM905
RECIPE = """\
etdecl: 1
name: store-bench
data:
  train: {path: train.jsonl}
  dev: {path: dev.jsonl}
  fields: {domain: domain}
  max_length: 128
  stream: true
encoders:
  enc: {type: hf, model: minilm-l6}
heads:
  cls: {type: classify, input: enc, labels: [neg, pos]}
"""


def write_data(folder: Path, n: int) -> None:
    rng = random.Random(n)
    with open(folder / "train.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n):
            text = " ".join(rng.choices(WORDS, k=rng.randint(8, 90)))
            fh.write(json.dumps({"text": text, "label": rng.choice(["neg", "pos"]),
                                 "domain": rng.choice(["books", "dvd", "kitchen"]),
                                 "id": i}) + "\n")
    (folder / "dev.jsonl").write_text("".join(
        json.dumps({"text": " ".join(rng.choices(WORDS, k=20)), "label": "pos",
                    "domain": "dvd"}) + "\n" for _ in range(50)))
    (folder / "r.yaml").write_text(RECIPE)


# ── one measurement, in its own process ─────────────────────────────────────────────────────

def child(mode: str, folder: Path, batches: int, workers: int) -> None:
    from collections import Counter

    import psutil
    from transformers import AutoTokenizer

    from etdecl.data.examples import load_splits, selection_key, split_rows, tasks_of
    from etdecl.data.token_store import StoredExamples, stream_features
    from etdecl.data.tokens import DatasetFeatures, TrainBatches, encode_cached
    from etdecl.recipe.aliases import resolve_model
    from etdecl.recipe.datasets import datasets
    from etdecl.recipe.validate import load_recipe

    loaded = load_recipe(folder / "r.yaml")
    [task] = tasks_of(loaded, "main")
    view = datasets(loaded.recipe)["main"]
    tok = AutoTokenizer.from_pretrained(str(resolve_model("minilm-l6")))
    tok(["warm up"])
    info = psutil.Process().memory_full_info()
    print(json.dumps({"base": info.pss, "base_anon": info.rss - info.shared}), flush=True)
    t0 = time.perf_counter()
    if mode == "memory":
        splits = load_splits(loaded, "main", [task])
        feats = encode_cached(splits.train, task, tok, 128, splits.sources["train"],
                              use_cache=False)
        ds = DatasetFeatures("main", 0, feats, [task], tok.pad_token_id, splits.train)
    else:
        rows, file = split_rows(loaded, view, "train", [task], Counter())
        stored = stream_features(rows, task, tok, 128,
                                 selection_key(loaded, view, "train", [task], file),
                                 workers=workers)
        feats = stored.feats
        ds = DatasetFeatures("main", 0, feats, [task], tok.pad_token_id,
                             StoredExamples(len(stored)), domain_ids=stored.domain_ids)  # type: ignore[arg-type]
    t_tok = time.perf_counter() - t0
    t1 = time.perf_counter()
    train = TrainBatches([ds], 32, 1, 0, 1, seed=1)
    read = 0
    for _micro in train.epoch(0):
        read += 1
        if read >= batches:
            break
    t_read = time.perf_counter() - t1
    print(json.dumps({"tokenise": t_tok, "read": t_read, "n": len(ds.feats),
                      "tokens": int(feats.offsets[-1]), "batches": read}), flush=True)


def tree_memory(proc) -> tuple[int, int]:
    """(PSS, anonymous) of a process and its descendants. PSS: forked workers share their
    parent's pages (torch, the tokenizer), which summed RSS would count once per process.
    Anonymous (RSS minus file-backed and shared pages) leaves out the memory-mapped store's
    page cache, which the kernel reclaims under pressure: the memory a run really holds."""
    import psutil

    pss = anon = 0
    with contextlib.suppress(psutil.Error):
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                info = p.memory_full_info()
                pss += info.pss
                anon += info.rss - info.shared
    return pss, anon


def measure(mode: str, folder: Path, cache: Path, batches: int, workers: int) -> dict:
    import psutil

    env = dict(os.environ, ETDECL_CACHE=str(cache), HF_HUB_OFFLINE="1",
               PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, str(folder),
                             str(batches), str(workers)], env=env, stdout=subprocess.PIPE,
                            text=True)
    ps = psutil.Process(proc.pid)
    peak = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            pss, anon = tree_memory(ps)
            peak[0], peak[1] = max(peak[0], pss), max(peak[1], anon)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        out.update(json.loads(line))
    proc.wait()
    done.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"{mode} at {folder} failed ({proc.returncode})")
    out["peak_mb"] = (peak[0] - out["base"]) / 2**20
    out["anon_mb"] = (peak[1] - out["base_anon"]) / 2**20
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--workers", type=int, default=None,
                    help="tokenising processes (0: in this process, the tokenizer's threads)")
    ap.add_argument("--memory-up-to", type=int, default=100_000,
                    help="largest size also run through today's in-memory path")
    ap.add_argument("--quick", action="store_true", help="sizes 2000 and 20000, 50 batches")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, folder, batches, workers = args.child
        child(mode, Path(folder), int(batches), int(workers))
        return
    from etdecl.data.token_store import default_workers

    workers = default_workers() if args.workers is None else args.workers
    sizes = [2_000, 20_000] if args.quick else args.sizes
    batches = 50 if args.quick else args.batches
    print(f"tokenising workers: {workers}; {batches} batches of 32 read; "
          f"load average {os.getloadavg()[0]:.1f} at start")
    head = (f"{'examples':>9} {'run':<10} {'tokenise s':>10} {'ex/s':>8} {'read s':>7} "
            f"{'peak MB':>8} {'anon MB':>8} {'2nd/1st':>8}")
    print(head)
    print("-" * len(head))
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="etdecl-store-") as tmp:
            folder, cache = Path(tmp), Path(tmp) / "cache"
            write_data(folder, n)
            first = measure("store", folder, cache, batches, workers)
            second = measure("store", folder, cache, batches, workers)
            rows = [("store 1st", first, ""),
                    ("store 2nd", second, f"{second['tokenise'] / first['tokenise']:.3f}")]
            if n <= args.memory_up_to:  # the other way to tokenise: pool or in-process threads
                other = 0 if workers else 1
                rows.append(("threads" if other == 0 else "pool 1",
                             measure("store", folder, folder / "cache-other", batches, other),
                             ""))
            if n <= args.memory_up_to:
                rows.append(("in-memory", measure("memory", folder, cache, batches, 0), ""))
            for name, r, ratio in rows:
                print(f"{n:>9} {name:<10} {r['tokenise']:>10.2f} {n / r['tokenise']:>8.0f} "
                      f"{r['read']:>7.2f} {r['peak_mb']:>8.0f} {r['anon_mb']:>8.0f} {ratio:>8}",
                      flush=True)


if __name__ == "__main__":
    main()
