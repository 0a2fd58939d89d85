"""Crash safety: a training process killed with SIGKILL mid-epoch resumes with `--resume` to the
same weights, bit for bit, as a run that was never interrupted; half-written checkpoints are
never picked up."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from sharing_support import cli, run_cli, tiny_recipe

STEPS_PER_EPOCH = 20  # 320 examples / batch 16
TOTAL = 2 * STEPS_PER_EPOCH
SETTINGS = ("--set", "train.checkpoint_every=3")


def last_step(run: Path) -> int:
    """The newest step metrics.jsonl has seen (0 before the first)."""
    try:
        lines = (run / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    steps = []
    for line in lines:
        with contextlib.suppress(ValueError):  # a line being written
            steps.append(json.loads(line)["step"])
    return max(steps, default=0)


def named_checkpoint(run: Path) -> str | None:
    try:
        return (run / "checkpoints" / "last").read_text().strip()
    except FileNotFoundError:
        return None


def weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def final_weights(run: Path) -> dict:
    return weights(run / "checkpoints" / named_checkpoint(run) / "model.safetensors")


def train_records(run: Path) -> dict[int, float]:
    """Training loss per step; a step logged twice (replayed after a crash) keeps the last."""
    out = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["split"] == "train":
            out[record["step"]] = record["loss"]
    return out


def test_sigkill_mid_epoch_then_resume_is_bit_exact(tmp_path: Path, token_cache: Path) -> None:
    recipe = tiny_recipe(tmp_path, epochs=2, dropout=0.1)  # dropout: RNG state matters too
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    reference = cli("train", str(recipe), "--run-dir", str(whole), *SETTINGS, cwd=tmp_path,
                    cache=token_cache)
    victim = cli("train", str(recipe), "--run-dir", str(killed), *SETTINGS, cwd=tmp_path,
                 cache=token_cache)
    deadline = time.monotonic() + 240
    # Kill in the second epoch, between checkpoints: after a checkpoint at or past step 24
    # has been named, as soon as a later step is logged that does not start a new one.
    while time.monotonic() < deadline and victim.poll() is None:
        named = named_checkpoint(killed)
        step = last_step(killed)
        if named and int(named.split("-")[1]) >= 24 and step % 3 == 2:
            victim.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    named, step = named_checkpoint(killed), last_step(killed)
    at = int(named.split("-")[1])
    assert STEPS_PER_EPOCH < at <= step < TOTAL, (named, step)  # in the second epoch
    # a crash while a later checkpoint was being written leaves debris: it must be ignored
    debris = killed / "checkpoints" / f".tmp-step-{step + 1:07d}"
    debris.mkdir(exist_ok=True)
    (debris / "model.safetensors").write_bytes(b"half a file")
    resumed = run_cli("train", str(recipe), "--run-dir", str(killed), "--resume", *SETTINGS,
                      cwd=tmp_path, cache=token_cache)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    said = "".join(resumed.stderr.split())  # rich wraps long lines anywhere
    assert f"resumedfrom{killed / 'checkpoints' / named}atstep{at}" in said
    out, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err[-3000:]
    for run in (whole, killed):
        assert named_checkpoint(run).split("-")[1] == f"{TOTAL:07d}"
    # steps the killed run logged after its checkpoint are replayed, never logged twice
    logged = [json.loads(x) for x in (killed / "metrics.jsonl").read_text().splitlines()]
    train_steps = [m["step"] for m in logged if m["split"] == "train"]
    assert train_steps == sorted(set(train_steps))
    reference_log = [json.loads(x) for x in (whole / "metrics.jsonl").read_text().splitlines()]
    assert [m["loss"] for m in logged if m["split"] == "train"] == [
        m["loss"] for m in reference_log if m["split"] == "train"]
    a, b = final_weights(whole), final_weights(killed)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype
        assert a[key].numpy().tobytes() == b[key].numpy().tobytes(), key
    # the training curve is the same too (steps replayed after the kill are logged again)
    assert train_records(whole) == train_records(killed)


def test_last_naming_a_missing_folder_means_no_checkpoint(tmp_path: Path,
                                                          token_cache: Path) -> None:
    recipe = tiny_recipe(tmp_path, n_train=64, n_dev=16)
    run = tmp_path / "run"
    (run / "checkpoints" / ".tmp-step-0000004").mkdir(parents=True)
    (run / "checkpoints" / ".tmp-step-0000004" / "model.safetensors").write_bytes(b"partial")
    (run / "checkpoints" / "last").write_text("step-0000004\n")  # the folder never got there
    done = run_cli("train", str(recipe), "--run-dir", str(run), "--resume", cwd=tmp_path,
                   cache=token_cache)
    assert done.returncode != 0
    assert "--resume: no checkpoint in" in done.stderr
    assert "Traceback" not in done.stderr


# ── the checkpointer on its own ──────────────────────────────────────────────────────────────


def _complete(folder: Path, step: int) -> Path:
    folder.mkdir(parents=True)
    for name in ("model.safetensors", "optimizer.pt", "scheduler.pt", "rng-rank0.pt"):
        (folder / name).write_bytes(b"x")
    (folder / "state.json").write_text(json.dumps({"step": step}))
    return folder


@pytest.mark.parametrize("layout", ["debris", "unnamed-newer", "pointer-missing", "no-pointer",
                                    "pointer-without-state"])
def test_only_the_checkpoint_named_by_last_is_used(tmp_path: Path, layout: str) -> None:
    from etdecl.engine.checkpoint import Checkpointer

    root = tmp_path / "checkpoints"
    good = _complete(root / "step-0000004", 4)
    (root / "last").write_text("step-0000004\n")
    expected: Path | None = good
    if layout == "debris":  # a save killed half-way: a temporary folder, never renamed
        (root / ".tmp-step-0000006").mkdir()
        (root / ".tmp-step-0000006" / "model.safetensors").write_bytes(b"half")
    elif layout == "unnamed-newer":  # killed after the rename, before `last` moved on
        _complete(root / "step-0000006", 6)
    elif layout == "pointer-missing":
        (root / "last").write_text("step-0000006\n")
        expected = None
    elif layout == "no-pointer":
        (root / "last").unlink()
        expected = None
    else:  # a folder without state.json is not complete
        (root / "step-0000004" / "state.json").unlink()
        expected = None
    assert Checkpointer(tmp_path, booster=None, rank=0).latest() == expected


def test_save_writes_a_temporary_folder_then_renames_then_points(tmp_path: Path,
                                                                monkeypatch) -> None:
    """The order of the filesystem operations that makes a checkpoint crash-safe."""
    import torch

    from etdecl.engine import checkpoint as ck

    events: list[tuple[str, str]] = []

    class Booster:
        def save_model(self, model, path, **kw):
            events.append(("write", Path(path).parent.name))
            Path(path).write_bytes(b"model")

        def save_optimizer(self, optimizer, path, **kw):
            Path(path).write_bytes(b"optim")

        def save_lr_scheduler(self, scheduler, path):
            Path(path).write_bytes(b"sched")

    real_replace = os.replace

    def replace(src, dst):
        events.append(("rename", f"{Path(src).name}->{Path(dst).name}"))
        real_replace(src, dst)

    monkeypatch.setattr(ck.os, "replace", replace)
    saver = ck.Checkpointer(tmp_path, Booster(), rank=0)
    saver.save(3, None, None, None, {"step": 3})
    saver.save(6, None, None, None, {"step": 6})
    # each save gets a fresh folder name (step number + random id); compare without the id
    names = [(kind, re.sub(r"(step-\d{7})-[0-9a-f]{8}", r"\1", what))
             for kind, what in events if not what.startswith(".state.json")]
    assert names == [
        ("write", ".tmp-step-0000003"), ("rename", ".tmp-step-0000003->step-0000003"),
        ("rename", f".last.tmp{os.getpid()}->last"),
        ("write", ".tmp-step-0000006"), ("rename", ".tmp-step-0000006->step-0000006"),
        ("rename", f".last.tmp{os.getpid()}->last"),
    ]
    root = tmp_path / "checkpoints"
    named = (root / "last").read_text().strip()
    assert named.startswith("step-0000006-")
    assert sorted(p.name for p in root.iterdir()) == ["last", named]
    assert torch.load(root / named / "rng-rank0.pt",
                      weights_only=True)["torch"].dtype == torch.uint8

