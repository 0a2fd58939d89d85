"""Checkpoints that survive a crash: written to a temporary folder, then renamed into place.

Layout under `<run>/checkpoints/`:
  step-0000120-<id>/  model.safetensors, optimizer.pt, scheduler.pt, rng-rank<R>.pt, state.json
  last           a one-line file naming the newest complete step folder (replaced atomically)
  best/          model.safetensors and state.json of the best dev metric so far

A folder is named `step-*` only after everything in it is written, and `last` is only
updated after that, so a process killed at any moment leaves the previous checkpoint usable.
Loading uses safetensors for weights and `torch.load(weights_only=True)` for the rest.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist


class ResumeError(Exception):
    """A run cannot continue from its checkpoint (none there, or made by another recipe)."""


def _barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def _shared(value: str) -> str:
    """Rank 0's value, on every rank."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]
    return value


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Checkpointer:
    def __init__(self, run_dir: Path, booster: Any, rank: int, sharded: bool = False) -> None:
        self.root = run_dir / "checkpoints"
        self.booster = booster
        self.rank = rank
        self.sharded = sharded
        """ZeRO, Gemini and hybrid plans save model and optimizer as folders of shards."""

    def _model_path(self, folder: Path) -> Path:
        return folder / ("model" if self.sharded else "model.safetensors")

    def _optim_path(self, folder: Path) -> Path:
        return folder / ("optimizer" if self.sharded else "optimizer.pt")

    def _write_model(self, tmp: Path, model: Any) -> None:
        """A fresh temporary folder (made by rank 0, seen by all), then the model into it."""
        if self.rank == 0:
            self.root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
        _barrier()
        self.booster.save_model(
            model, str(self._model_path(tmp)), shard=self.sharded, use_safetensors=True
        )

    # ── save ──────────────────────────────────────────────────────────────────────────────

    def save(
        self, step: int, model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any]
    ) -> Path:
        # a fresh name per save (rank 0's, shared with all): re-saving a step never touches
        # the folder `last` names
        name = _shared(f"step-{step:07d}-{uuid.uuid4().hex[:8]}")
        final = self.root / name
        tmp = self.root / f".tmp-{name}"
        self._write_model(tmp, model)
        self.booster.save_optimizer(optimizer, str(self._optim_path(tmp)), shard=self.sharded)
        self.booster.save_lr_scheduler(scheduler, str(tmp / "scheduler.pt"))
        torch.save({"torch": torch.get_rng_state()}, tmp / f"rng-rank{self.rank}.pt")
        _barrier()
        if self.rank == 0:
            _atomic_write_text(tmp / "state.json", json.dumps(state, indent=2))
            for f in tmp.rglob("*"):
                if f.is_file():
                    with open(f, "rb") as fh:
                        os.fsync(fh.fileno())
            os.replace(tmp, final)
            _fsync_dir(self.root)
            _atomic_write_text(self.root / "last", name + "\n")
            for old in self.root.glob("step-*"):
                if old.name != name:
                    shutil.rmtree(old, ignore_errors=True)
        _barrier()
        return final

    def save_best(self, model: Any, state: dict[str, Any]) -> None:
        tmp = self.root / ".tmp-best"
        self._write_model(tmp, model)
        _barrier()
        if self.rank == 0:
            _atomic_write_text(tmp / "state.json", json.dumps(state, indent=2))
            old = self.root / "best"
            trash = self.root / ".old-best"
            shutil.rmtree(trash, ignore_errors=True)
            if old.exists():
                os.replace(old, trash)
            os.replace(tmp, old)
            shutil.rmtree(trash, ignore_errors=True)
        _barrier()

    # ── load ──────────────────────────────────────────────────────────────────────────────

    def latest(self) -> Path | None:
        pointer = self.root / "last"
        if not pointer.is_file():
            return None
        path = self.root / pointer.read_text().strip()
        return path if (path / "state.json").is_file() else None

    def load(self, path: Path, model: Any, optimizer: Any, scheduler: Any) -> dict[str, Any]:
        self.booster.load_model(model, str(self._model_path(path)))
        self.booster.load_optimizer(optimizer, str(self._optim_path(path)))
        self.booster.load_lr_scheduler(scheduler, str(path / "scheduler.pt"))
        rng_file = path / f"rng-rank{self.rank}.pt"
        if rng_file.is_file():
            rng = torch.load(rng_file, weights_only=True)
            torch.set_rng_state(rng["torch"])
        return json.loads((path / "state.json").read_text())
