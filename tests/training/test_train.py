"""End-to-end training through the CLI: learning, run directory, resume, DDP, the quickstart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from training_support import load_weights, read_metrics, run_cli


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    last = (run_dir / "checkpoints" / "last").read_text().strip()
    return load_weights(run_dir / "checkpoints" / last / "model.safetensors")


def test_tiny_run_learns_and_leaves_a_readable_run_dir(tiny_recipe, tmp_path):
    recipe = tiny_recipe(epochs=2)
    run = tmp_path / "run"
    proc = run_cli("train", str(recipe), "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr
    metrics = read_metrics(run)
    train = [m["loss"] for m in metrics if m["split"] == "train"]
    dev = [m for m in metrics if m["split"] == "dev"]
    assert len(train) == 40  # 320 examples / 16 per batch × 2 epochs, logged every step
    assert sum(train[-5:]) / 5 < 0.5 * sum(train[:5]) / 5, train
    assert dev[-1]["cls.accuracy"] >= 0.9, dev[-1]
    assert {"cls.accuracy[a]", "cls.accuracy[b]"} <= set(dev[-1])
    for name in ("recipe.yaml", "fingerprint", "summary.md", "result.json", "launch.json"):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").iterdir())
    assert (run / "checkpoints" / "best" / "model.safetensors").is_file()
    fingerprint = (run / "fingerprint").read_text().strip()
    state = json.loads((run / "checkpoints" / "best" / "state.json").read_text())
    assert state["fingerprint"] == fingerprint
    assert "accuracy" in (run / "summary.md").read_text()
    # the resolved recipe in the run directory is itself a valid recipe with the same fingerprint
    proc = run_cli("validate", str(run / "recipe.yaml"), "--no-data")
    assert proc.returncode == 0, proc.stderr
    assert fingerprint[:16] in proc.stdout


def test_resume_continues_exactly_where_a_stopped_run_left_off(tiny_recipe, tmp_path):
    recipe = tiny_recipe(epochs=2, dropout=0.1)  # dropout: the RNG state must be restored too
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert run_cli("train", str(recipe), "--run-dir", str(whole)).returncode == 0
    first = run_cli("train", str(recipe), "--run-dir", str(parts), "--stop-after", "27")
    assert first.returncode == 0, first.stderr
    assert (parts / "checkpoints" / "last").read_text().startswith("step-0000027-")
    again = run_cli("train", str(recipe), "--run-dir", str(parts))
    assert again.returncode != 0 and "--resume" in again.stderr  # never overwrites a run
    second = run_cli("train", str(recipe), "--run-dir", str(parts), "--resume")
    assert second.returncode == 0, second.stderr
    a, b = _final_weights(whole), _final_weights(parts)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    losses_a = [m["loss"] for m in read_metrics(whole) if m["split"] == "train"]
    losses_b = [m["loss"] for m in read_metrics(parts) if m["split"] == "train"]
    assert losses_a == losses_b


def test_resume_refuses_a_changed_recipe(tiny_recipe, tmp_path):
    recipe = tiny_recipe()
    run = tmp_path / "run"
    assert run_cli("train", str(recipe), "--run-dir", str(run), "--stop-after", "5").returncode == 0
    proc = run_cli(
        "train", str(recipe), "--run-dir", str(run), "--resume", "--set", "train.lr=1e-3"
    )
    assert proc.returncode != 0
    assert "checkpoint was made by recipe" in proc.stderr


@pytest.mark.dist
def test_two_process_ddp_matches_one_process(tiny_recipe, tmp_path):
    recipe = tiny_recipe(epochs=1, dropout=0.0)
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli("train", str(recipe), "--run-dir", str(one)).returncode == 0
    proc = run_cli("train", str(recipe), "--run-dir", str(two), "--nproc", "2")
    assert proc.returncode == 0, proc.stderr
    l1 = [m["loss"] for m in read_metrics(one) if m["split"] == "train"]
    l2 = [m["loss"] for m in read_metrics(two) if m["split"] == "train"]
    assert len(l1) == len(l2) == 20
    assert l2[-1] < 0.7 * l2[0]
    for a, b in zip(l1, l2, strict=True):  # same global batches, gradients averaged over ranks
        assert abs(a - b) <= 1e-3 * max(1.0, abs(a)), (l1, l2)


def test_batch_not_divisible_by_processes_is_a_located_error(tiny_recipe, tmp_path):
    recipe = tiny_recipe()
    proc = run_cli(
        "train",
        str(recipe),
        "--run-dir",
        str(tmp_path / "r"),
        "--nproc",
        "3",
        "--set",
        "train.max_steps=1",
    )
    assert proc.returncode != 0
    assert "tiny.yaml:" in proc.stderr and "train.batch_size" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_quickstart_recipe_trains_on_200_rows(tmp_path):
    run = tmp_path / "qs"
    proc = run_cli(
        "train",
        "recipes/quickstart.yaml",
        "--run-dir",
        str(run),
        "--set",
        "data.train.limit=200",
        "--set",
        "train.max_steps=4",
        "--set",
        "train.eval_every=2",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((run / "result.json").read_text())
    assert result["step"] == 4 and result["outcome"] == "done"
    dev = [m for m in read_metrics(run) if m["split"] == "dev"]
    assert [m["step"] for m in dev] == [2, 4]
    # 200 rows, a fifth held out: accuracy counts whole examples out of 40
    assert "| train / dev examples | 160 / 40 |" in (run / "summary.md").read_text()
    for m in dev:
        assert abs(m["sentiment.accuracy"] * 40 - round(m["sentiment.accuracy"] * 40)) < 1e-9, m
    # the result reports the metrics the run logged: the last evaluation and the best one
    keys = ("sentiment.accuracy", "sentiment.macro_f1", "loss")
    assert {k: result["last_eval"][k] for k in keys} == {k: dev[-1][k] for k in keys}
    # the first of equals, as the trainer keeps
    best = max(dev, key=lambda m: m["sentiment.accuracy"])
    assert result["best_eval"]["step"] == best["step"]
    assert result["best_eval"]["sentiment.accuracy"] == best["sentiment.accuracy"]


def test_gradient_accumulation_matches_the_full_batch(tiny_recipe, tmp_path):
    recipe = tiny_recipe(epochs=1, dropout=0.0)
    full, accum = tmp_path / "full", tmp_path / "accum"
    args = ["--set", "train.max_steps=8"]
    assert run_cli("train", str(recipe), "--run-dir", str(full), *args).returncode == 0
    proc = run_cli("train", str(recipe), "--run-dir", str(accum), *args,
                   "--set", "train.grad_accum=4")
    assert proc.returncode == 0, proc.stderr
    l1 = [m["loss"] for m in read_metrics(full) if m["split"] == "train"]
    l4 = [m["loss"] for m in read_metrics(accum) if m["split"] == "train"]
    assert len(l1) == len(l4) == 8
    for a, b in zip(l1, l4, strict=True):
        assert abs(a - b) <= 1e-3 * max(1.0, abs(a)), (l1, l4)
