"""Random sparse attention (rsa) against dense attention: peak memory and step time of one
forward+backward on long sequences, and dev accuracy after fine-tuning MiniLM-L6 on long reviews.

Run alone on the machine:  python bench/rsa.py [--quick]

Memory: each (mode, length) runs in its own process, on a random-initialised BERT (hidden 256,
4 heads, 2 layers, that many positions, batch 1); the peak is the growth of the process's
high-water RSS (VmHWM, reset through /proc/self/clear_refs) over its RSS before the step, so
the model and imports are not counted. Modes: dense eager (the n×n matrix), dense sdpa
(transformers' default; torch's CPU kernel), rsa. Ratios are against dense eager and sdpa.

Accuracy: reviews of ≥ 1200 characters (≈ 270+ word pieces) from multi_domain_sentiment,
max_length 512; the first N long train reviews train; the long dev reviews, then the remaining
long train reviews, evaluate (up to --dev of them). One seed per mode (time): read the
difference against the binomial noise printed beside it. Writes nothing into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ETDECL_SHARED_DATA", ROOT.parent.parent / "shared" / "data"))
RSA = {"block": 64, "local_blocks": 3, "random_blocks": 3, "seed": 0}
"""The long-sequence pattern: each query block sees 6 blocks (384 keys) whatever the length."""
RSA_512 = {"block": 32, "local_blocks": 3, "random_blocks": 3, "seed": 0}
"""At 512 tokens: 6 of 16 blocks (37.5 % of the keys) per query block."""


# ── memory and step time (one process per measurement) ───────────────────────────────────────

def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def worker(mode: str, length: int, steps: int) -> None:
    """Print {"peak_mb", "step_s"} for one forward+backward of `mode` at `length` tokens."""
    import torch
    from transformers import BertConfig, BertModel

    from etdecl.components.sparse_attention import install_rsa

    torch.manual_seed(0)
    impl = "sdpa" if mode == "dense-sdpa" else "eager"
    config = BertConfig(hidden_size=256, num_attention_heads=4, num_hidden_layers=2,
                        intermediate_size=1024, max_position_embeddings=length,
                        attn_implementation=impl)
    model = BertModel(config, add_pooling_layer=False).train()
    if mode == "rsa":
        install_rsa(model, RSA["block"], RSA["local_blocks"], RSA["random_blocks"], RSA["seed"])
    ids = torch.randint(1000, 20000, (1, length))
    mask = torch.ones(1, length, dtype=torch.long)
    times, peaks = [], []
    for _ in range(steps + 1):
        model.zero_grad(set_to_none=True)
        Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark
        before = _rss_kb("VmRSS")
        start = time.perf_counter()
        model(input_ids=ids, attention_mask=mask).last_hidden_state.pow(2).mean().backward()
        times.append(time.perf_counter() - start)
        peaks.append(_rss_kb("VmHWM") - before)
    timed = slice(1, None) if steps else slice(None)  # --memory-only: one step, no warm-up
    print(json.dumps({"peak_mb": max(peaks[timed]) / 1024,
                      "step_s": statistics.median(times[timed])}))


def measure(mode: str, length: int, steps: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=os.environ.get(
        "OMP_NUM_THREADS", "2"))
    out = subprocess.run([sys.executable, __file__, "--worker", mode, str(length), str(steps)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory_table(lengths: list[int], steps: int) -> None:
    modes = ("dense-eager", "dense-sdpa", "rsa")
    print(f"\nrsa pattern {RSA}; BERT hidden 256, 4 heads, 2 layers, batch 1, "
          + (f"{steps} timed steps after 1 warm-up" if steps else "1 step, no warm-up"))
    print(f"{'tokens':>6} | {'mode':<11} | {'peak MB':>8} | {'step s':>7} | "
          f"{'mem / eager':>11} | {'mem / sdpa':>10} | {'time / eager':>12}")
    for length in lengths:
        got = {m: measure(m, length, steps) for m in modes}
        for m in modes:
            r = got[m]
            print(f"{length:>6} | {m:<11} | {r['peak_mb']:>8.1f} | {r['step_s']:>7.3f} | "
                  f"{r['peak_mb'] / got['dense-eager']['peak_mb']:>11.2f} | "
                  f"{r['peak_mb'] / got['dense-sdpa']['peak_mb']:>10.2f} | "
                  f"{r['step_s'] / got['dense-eager']['step_s']:>12.2f}", flush=True)


# ── accuracy after fine-tuning MiniLM-L6 ──────────────────────────────────────────────────────

def long_reviews(n_train: int, n_dev: int, min_chars: int,
                 folder: Path) -> tuple[Path, Path, int, int]:
    def read(name: str) -> list[dict]:
        path = DATA / "multi_domain_sentiment" / f"{name}.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]

    train = [r for r in read("train") if len(r["text"]) >= min_chars]
    dev = [r for r in read("dev") if len(r["text"]) >= min_chars] + train[n_train:]
    train, dev = train[:n_train], dev[:n_dev]
    paths = []
    for name, rows in (("train", train), ("dev", dev)):
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        paths.append(path)
    return paths[0], paths[1], len(train), len(dev)


def finetune(mode: str, train: Path, dev: Path, run: Path, epochs: int) -> dict:
    sets = [f"data.train.path={train}", f"data.dev.path={dev}", "data.max_length=512",
            f"train.epochs={epochs}", "train.batch_size=16", "train.eval_every=1000000",
            "train.lr=1.0e-4"]
    if mode == "rsa":
        sets.append("encoders.plm.attention=" + json.dumps({"type": "rsa", **RSA_512}))
    cmd = [sys.executable, "-m", "etdecl.cli", "train", str(ROOT / "recipes" /
           "sentiment-amazon.yaml"), "--run-dir", str(run)]
    for s in sets:
        cmd += ["--set", s]
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{mode} run failed:\n{proc.stderr[-3000:]}")
    result = json.loads((run / "result.json").read_text())
    return {"wall_s": wall, "accuracy": result["last_eval"]["sentiment.accuracy"]}


def accuracy_table(n_train: int, n_dev: int, epochs: int, min_chars: int) -> None:
    with tempfile.TemporaryDirectory(prefix="etdecl-rsa-") as tmp:
        folder = Path(tmp)
        train, dev, n_tr, n_dev = long_reviews(n_train, n_dev, min_chars, folder)
        from transformers import AutoTokenizer

        from etdecl.recipe.aliases import resolve_model

        tok = AutoTokenizer.from_pretrained(str(resolve_model("minilm-l6", ROOT)))
        texts = [json.loads(x)["text"] for x in train.read_text().splitlines()]
        pieces = tok(texts, truncation=True, max_length=512)["input_ids"]
        lengths = [len(ids) for ids in pieces]
        print(f"\nMiniLM-L6, max_length 512, reviews of ≥ {min_chars} characters: {n_tr} train "
              f"({epochs} epoch(s), batch 16, lr 1e-4), {n_dev} dev; train word pieces: mean "
              f"{statistics.mean(lengths):.0f}, {sum(x == 512 for x in lengths) / len(lengths):.0%}"
              f" truncated at 512; rsa {RSA_512}")
        got = {m: finetune(m, train, dev, folder / m, epochs) for m in ("dense", "rsa")}
    noise = (got["dense"]["accuracy"] * (1 - got["dense"]["accuracy"]) / n_dev) ** 0.5
    print(f"{'mode':<6} | {'dev acc':>7} | {'wall s':>7} | {'time / dense':>12}")
    for m, r in got.items():
        print(f"{m:<6} | {r['accuracy']:>7.4f} | {r['wall_s']:>7.1f} | "
              f"{r['wall_s'] / got['dense']['wall_s']:>12.2f}")
    diff = (got["rsa"]["accuracy"] - got["dense"]["accuracy"]) * 100
    print(f"rsa − dense: {diff:+.1f} points (one standard error of one run's accuracy on "
          f"{n_dev} reviews: {noise * 100:.1f} points)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: short lengths, tiny data")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--memory-only", action="store_true",
                    help="one untimed-warm-up step per config, peak memory only (light: ~30 s "
                         "of CPU); step times then are not comparable")
    ap.add_argument("--worker", nargs=3, metavar=("MODE", "LENGTH", "STEPS"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--train", type=int, default=640, help="long reviews to train on")
    ap.add_argument("--dev", type=int, default=320, help="long reviews to evaluate on")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--min-chars", type=int, default=1200, help="what counts as a long review")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), int(args.worker[2]))
        return
    if args.memory_only:
        memory_table([1024, 2048, 4096], 0)
        return
    if not args.skip_memory:
        memory_table([256, 512] if args.quick else [1024, 2048, 4096], 1 if args.quick else 3)
    if not args.skip_accuracy:
        if args.quick:
            accuracy_table(32, 64, 1, args.min_chars)
        else:
            accuracy_table(args.train, args.dev, args.epochs, args.min_chars)


if __name__ == "__main__":
    main()
