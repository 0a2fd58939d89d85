"""Two "machines" as two local processes on 127.0.0.1, with torchrun's multi-node semantics."""

from __future__ import annotations

import os
import subprocess

import pytest
from training_support import ETDECL, ROOT, read_metrics, run_cli

from etdecl.engine.launch import free_port

pytestmark = pytest.mark.dist


def test_two_nodes_train_like_two_local_processes(tiny_dir, tmp_path):
    recipe = str(tiny_dir / "tiny.yaml")
    port = str(free_port())
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    nodes = [
        subprocess.Popen([*ETDECL, "train", recipe, "--run-dir", str(tmp_path / "multi"),
                          "--nnodes", "2", "--node-rank", str(rank), "--nproc", "1",
                          "--master-addr", "127.0.0.1", "--master-port", port],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=600) for node in nodes]
    for node, (_, err) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, err[-3000:]
    single = run_cli("train", recipe, "--run-dir", str(tmp_path / "single"), "--nproc", "2")
    assert single.returncode == 0, single.stderr[-3000:]
    multi_losses = [m["loss"] for m in read_metrics(tmp_path / "multi") if m["split"] == "train"]
    single_losses = [m["loss"] for m in read_metrics(tmp_path / "single")
                     if m["split"] == "train"]
    assert len(multi_losses) == 20
    for a, b in zip(single_losses, multi_losses, strict=True):
        assert abs(a - b) <= 1e-5 * max(1.0, abs(a))
