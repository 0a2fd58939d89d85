"""Synthetic source/target data and a tiny selector recipe for the selector tests.

Target rows (domain `tgt`) and `near` source rows share their filler words and their labels
follow the sentiment words; `far` source rows use other filler words and carry flipped labels,
so training on them hurts the target and a good selector keeps fewer of them.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

from training_support import BAD, FILLER, GOOD, TINY_ENCODER, write_jsonl  # noqa: E402

OTHER = ["car", "engine", "wheel", "road", "fuel", "brake", "seat", "gear", "tyre", "door",
         "lamp", "horn"]


def rows(n: int, seed: int, domain: str) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = rng.choice(["pos", "neg"])
        filler = OTHER if domain == "far" else FILLER
        words = rng.sample(filler, 5) + rng.sample(GOOD if label == "pos" else BAD, 2)
        rng.shuffle(words)
        if domain == "far":
            label = "neg" if label == "pos" else "pos"
        out.append({"id": f"{domain}{i}", "text": " ".join(words), "label": label,
                    "domain": domain})
    return out


RECIPE = """\
etdecl: 1
name: select
data:
  fields: {{text: text, label: label, domain: domain}}
  max_length: 16
  target_domain: tgt
  sets:
    source:
      train: {{path: source.jsonl}}
      dev: {{path: source-dev.jsonl}}
      where: {{domain: [near, far]}}
    target:
      train: {{path: target.jsonl}}
      dev: {{path: target-dev.jsonl}}
      where: {{domain: [tgt]}}
encoders:
{encoder}
heads:
  cls: {{type: classify, input: enc, labels: [neg, pos], data: [source, target]}}
selectors:
  pick: {selector}
train:
  epochs: {epochs}
  batch_size: 16
  lr: 3.0e-3
  warmup: 0.1
  eval_every: 5
  log_every: 1
  seed: 3
"""


def write_select(folder: Path, selector: str, epochs: int = 2) -> Path:
    write_jsonl(folder / "source.jsonl", rows(64, 1, "near") + rows(64, 2, "far"))
    write_jsonl(folder / "source-dev.jsonl", rows(8, 3, "near") + rows(8, 4, "far"))
    write_jsonl(folder / "target.jsonl", rows(32, 5, "tgt"))
    write_jsonl(folder / "target-dev.jsonl", rows(32, 6, "tgt"))
    path = folder / "select.yaml"
    path.write_text(RECIPE.format(encoder=TINY_ENCODER.rstrip("\n"), selector=selector,
                                  epochs=epochs))
    return path
