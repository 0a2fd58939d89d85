"""What a run leaves for people to read: metrics.jsonl, TensorBoard events, summary.md."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class RunLog:
    """Append-only metrics on rank 0; other ranks get a RunLog that writes nothing."""

    def __init__(self, run_dir: Path, active: bool) -> None:
        self.active = active
        self.path = run_dir / "metrics.jsonl"
        self._tb = None
        if active:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

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
