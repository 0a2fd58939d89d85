"""The selection log: `RUN_DIR/selection/<selector>.jsonl`, one JSON line per episode, so a
person (and `etdecl report`) can see which source examples were kept and with what probability.

Each line:

    {"selector": "pick", "type": "reinforced", "episode": 3, "step": 75,
     "metric": 0.81, "reward": 0.02, "baseline": 0.01,
     "index": [...], "domain": [...], "prob": [...], "kept": [...]}

`index` is the example's feature row in its dataset (the batch's `index`), `domain` its domain
name, `prob` the selector's probability of keeping it (bayes: the rank of its score, 1 = best),
`kept` 1 or 0. An example appears once per time it was judged in the episode. `metric`,
`reward` and `baseline` are null where the selector has none (bayes; an episode cut short).
On `--resume` the lines after the resumed step are dropped, so the log continues exactly where
the checkpoint left off.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FOLDER = "selection"


def log_path(run_dir: Path, name: str) -> Path:
    return Path(run_dir) / FOLDER / f"{name}.jsonl"


class SelectionLog:
    """Appends episode records (main process only); `truncate` drops records past a step."""

    def __init__(self, run_dir: Path, name: str, enabled: bool = True) -> None:
        self.path = log_path(run_dir, name)
        self.enabled = enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def truncate(self, step: int) -> None:
        """Keep only the records of episodes that ended at or before `step` (a resume)."""
        if not self.enabled or not self.path.is_file():
            return
        kept = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= step]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, self.path)

    def reset(self) -> None:
        if self.enabled and self.path.is_file():
            self.path.unlink()

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as fh:
            fh.write(json.dumps(record, separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def read_log(path: Path) -> list[dict[str, Any]]:
    """The records of one selector's log, in order."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
