"""Logits-KD epoch time with the teacher-output cache, without it, and the student alone.

Teacher: MiniLM-L6 (6 layers, width 384) with a fresh classify head, saved as a run directory
without training (`untrained_run.py`: speed does not depend on what the weights learnt).
Student: MiniLM-L6 cut to its layers 0 and 5 (`layers: [0, 5]`, width 384, 12 heads), the
2-layer student of the distillation study.
Data: multi_domain_sentiment training rows, max_length 128, batch 32.

Each variant is one `etdecl train` of one epoch (same rows, same order); its train-step time
comes from result.json (forward, backward, optimizer; evaluation and checkpoints apart).
`cached` is the second epoch over the rows (a second run reading the cache the first one
filled, every batch a hit); `fill` is the epoch that fills it. Ratios are to student-only,
measured in the same run; student-only trains first and again last, and the mean of the two is
the base (their gap shows how much the machine's load drifted). Run it on a quiet machine. The
goal: cached KD <= 1.15 x student-only.

    nice -n 10 flock /work/bench.lock python bench/kd_cache.py [--quick] [--rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DATA = ROOT.parent / "shared" / "data" / "multi_domain_sentiment"

RECIPE = """\
etdecl: 1
name: {name}
data:
  train: {{path: train.jsonl}}
  dev: {{path: dev.jsonl}}
  fields: {{text: text, label: label, domain: domain}}
  max_length: 128
encoders:
  enc:
    type: hf
    {encoder}
    pooling: cls
heads:
  cls: {{type: classify, input: enc, labels: [negative, positive]}}
train:
  epochs: 1
  batch_size: 32
  eval_batch_size: 64
  lr: 5.0e-5
  log_every: 10
  seed: 1
{extra}"""

TEACHER = "model: minilm-l6"
STUDENT = "model: minilm-l6\n    layers: [0, 5]"


def rows(path: Path, n: int, seed: int) -> list[str]:
    lines = path.read_text().splitlines()
    random.Random(seed).shuffle(lines)
    return lines[:n]


def train(recipe: Path, run: Path) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "etdecl.cli", "train", str(recipe),
                           "--run-dir", str(run)], env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads((run / "result.json").read_text())["timing"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="320 rows (10 steps)")
    ap.add_argument("--rows", type=int, default=1600, help="training rows (default 1600)")
    args = ap.parse_args()
    n = 320 if args.quick else args.rows
    from untrained_run import untrained_run

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "train.jsonl").write_text("\n".join(rows(DATA / "train.jsonl", n, 0)) + "\n")
        (work / "dev.jsonl").write_text("\n".join(rows(DATA / "dev.jsonl", 64, 0)) + "\n")
        teacher_recipe = work / "teacher.yaml"
        teacher_recipe.write_text(RECIPE.format(name="teacher", encoder=TEACHER, extra=""))
        untrained_run(teacher_recipe, work / "teacher-run")
        kd = ("teachers:\n  t:\n    source: teacher-run\n    objectives: {{logits: {{}}}}\n"
              "method: {{type: distill, {cache}}}\n")
        variants = {
            "student only": "",
            "KD, no cache": kd.format(cache="cache: false"),
            "KD, cache fill (1st epoch)": kd.format(cache="cache_dir: cache"),
            "KD, cache warm (2nd epoch)": kd.format(cache="cache_dir: cache"),
            "student only, again": "",
        }
        timing = {}
        for i, (name, extra) in enumerate(variants.items()):
            recipe = work / f"v{i}.yaml"
            recipe.write_text(RECIPE.format(name=f"v{i}", encoder=STUDENT, extra=extra))
            timing[name] = train(recipe, work / f"run{i}")
    # student-only runs first and last: their mean is the base, their gap the machine's drift
    base = (timing["student only"]["train_step_s"]
            + timing["student only, again"]["train_step_s"]) / 2
    steps = timing["student only"]["steps"]
    lines = [f"KD epoch time, {n} rows ({steps} steps of 32, max_length 128), teacher "
             "MiniLM-L6, student its layers [0, 5]; train-step seconds of one epoch",
             "", "| variant | epoch s | ratio to student-only |", "|---|---|---|"]
    for name, t in timing.items():
        lines.append(f"| {name} | {t['train_step_s']:.1f} | {t['train_step_s'] / base:.3f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
