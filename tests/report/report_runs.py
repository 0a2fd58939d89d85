"""Synthetic run directories for the report tests: the files `etdecl train` and the selectors
write (result.json, metrics.jsonl, selection/<name>.jsonl), made by hand in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PNG_HEADER = b"\x89PNG\r\n\x1a\n"
METRIC = "sentiment.accuracy"


def selection_record(episode: int, step: int, domain: list[str], kept: list[int],
                     prob: list[float], metric: float | None = 0.5,
                     reward: float | None = None, type_: str = "reinforced") -> dict[str, Any]:
    return {"selector": "pick", "type": type_, "episode": episode, "step": step,
            "metric": metric, "reward": reward, "baseline": None,
            "index": list(range(len(kept))), "domain": domain, "prob": prob, "kept": kept}


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def write_metrics(folder: Path, dev: list[float], every: int = 10) -> None:
    """Train loss every 5 steps, the dev metric every `every` steps (values in order)."""
    lines = []
    for step in range(5, every * len(dev) + 1, 5):
        lines.append({"time": 0.0, "step": step, "split": "train", "loss": 10.0 / step,
                      "lr": 1e-3, "epoch": 0})
        if step % every == 0:
            lines.append({"time": 0.0, "step": step, "split": "dev", "loss": 0.5,
                          METRIC: dev[step // every - 1]})
    write_jsonl(folder / "metrics.jsonl", lines)


def write_result(folder: Path, step: int, best: tuple[int, float], last: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps({
        "outcome": "done", "step": step, "metric": METRIC,
        "best_eval": {METRIC: best[1], "step": best[0]}, "last_eval": {METRIC: last}}))


def make_run(folder: Path, episodes: int = 3, selector: bool = True) -> Path:
    """A finished run: recipe.yaml, metrics, result and (optionally) a 'pick' selection log
    whose episode e keeps e+1 of 4 'books' and none of 2 'dvd' examples."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recipe.yaml").write_text("etdecl: 1\nname: synthetic\n")
    write_metrics(folder, [0.6, 0.8, 0.7])
    write_result(folder, 30, (20, 0.8), 0.7)
    if selector:
        records = [selection_record(e, 10 * (e + 1), ["books"] * 4 + ["dvd"] * 2,
                                    [1] * (e % 4 + 1) + [0] * (3 - e % 4) + [0, 0],
                                    [0.5] * 4 + [0.25, 0.75],
                                    metric=0.5 + e / 1000, reward=None if e == 0 else 0.01)
                   for e in range(episodes)]
        write_jsonl(folder / "selection" / "pick.jsonl", records)
    return folder


def is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 100 and \
        path.read_bytes()[:8] == PNG_HEADER
