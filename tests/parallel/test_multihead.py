"""A two-head, two-dataset graph trains over 2 processes under data-parallel plugins and
follows the 1-process curve: multi-task batches split over ranks like single-task ones."""

from __future__ import annotations

import pytest
from task_rows import tag_rows
from training_support import TINY_ENCODER, read_metrics, run_cli, synthetic_rows, write_jsonl

pytestmark = pytest.mark.dist

RECIPE = """\
etdecl: 1
name: two-heads
data:
  max_length: 24
  sets:
    sent: {train: {path: sent-train.jsonl}, dev: {path: sent-dev.jsonl}}
    ner: {train: {path: ner-train.jsonl}, dev: {path: ner-dev.jsonl}}
encoders:
""" + TINY_ENCODER + """\
heads:
  sentiment: {type: classify, input: enc, data: sent, labels: [neg, pos], dropout: 0.0}
  entities: {type: tag, input: enc, data: ner, dropout: 0.0,
             labels: [O, B-person, I-person, B-location, I-location]}
train: {epochs: 1, batch_size: 16, lr: 3.0e-3, warmup: 0.1, log_every: 1, seed: 3,
        metric: sentiment.accuracy, mixing: round_robin}
"""


@pytest.mark.parametrize("plugin", ["ddp", "zero"])
def test_two_head_graph_on_two_processes_follows_one(plugin, tmp_path):
    for name, rows in (("sent", synthetic_rows), ("ner", tag_rows)):
        write_jsonl(tmp_path / f"{name}-train.jsonl", rows(160, 1))
        write_jsonl(tmp_path / f"{name}-dev.jsonl", rows(32, 2))
    (tmp_path / "r.yaml").write_text(RECIPE)
    curves = {}
    for nproc in (1, 2):
        run = tmp_path / f"run{nproc}"
        proc = run_cli("train", str(tmp_path / "r.yaml"), "--run-dir", str(run), "--nproc",
                       str(nproc), "--set", f"parallel.plugin={plugin}")
        assert proc.returncode == 0, proc.stderr[-3000:]
        metrics = read_metrics(run)
        curves[nproc] = [m["loss"] for m in metrics if m["split"] == "train"]
        dev = [m for m in metrics if m["split"] == "dev"][-1]
        assert {"sentiment.accuracy", "entities.f1"} <= set(dev)
    assert len(curves[1]) == len(curves[2]) == 20
    assert sum(curves[2][-4:]) < 0.7 * sum(curves[2][:4]), curves[2]
    for a, b in zip(curves[1], curves[2], strict=True):
        assert abs(a - b) <= 1e-3 * max(1.0, abs(a)), curves
