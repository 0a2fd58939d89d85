"""What a run leaves for people to read: metrics.jsonl, TensorBoard events, summary.md."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


class RunLog:
    """Append-only metrics on rank 0; other ranks get a RunLog that writes nothing."""

    def __init__(self, run_dir: Path, active: bool, resume_step: int | None = None) -> None:
        """On resume, records past the checkpoint's step (written by the interrupted run after
        its last checkpoint) are dropped, so replayed steps are not logged twice."""
        self.active = active
        self.path = run_dir / "metrics.jsonl"
        self._tb = None
        if not active:
            return
        from torch.utils.tensorboard import SummaryWriter

        purge = None
        if resume_step is not None:
            self._truncate_after(resume_step)
            purge = resume_step + 1
        self._tb = SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=purge)

    def _truncate_after(self, step: int) -> None:
        if not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by the crash
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(x + "\n" for x in kept), encoding="utf-8")
        os.replace(tmp, self.path)

    def log(self, step: int, split: str, values: dict[str, Any]) -> None:
        if not self.active:
            return
        record = {"time": round(time.time(), 3), "step": step, "split": split, **values}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        assert self._tb is not None
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._tb.add_scalar(f"{split}/{key}", value, step)
            elif isinstance(value, dict):
                for sub, v in value.items():
                    if isinstance(v, (int, float)):
                        self._tb.add_scalar(f"{split}/{key}/{sub}", v, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def write_summary(run_dir: Path, rows: list[tuple[str, str]], title: str) -> str:
    lines = [f"# {title}", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    text = "\n".join(lines) + "\n"
    (run_dir / "summary.md").write_text(text, encoding="utf-8")
    return text
