"""A run's own record, read back: outcome, the selection metric's best and last dev value, and
the training-loss and dev-metric curves.

metrics.jsonl (`engine/runlog.py`) holds one line per log: `{"time", "step", "split": "train"
| "dev", ...values}`; train lines carry `loss`, dev lines every metric of the evaluation.
result.json, written when a launch ends, names the selection metric (`metric`). A run still
going has no result.json: the metric is then read from its resolved recipe, as the trainer
does, and failing that it is the first dev value that is not a loss. Best and last come from
metrics.jsonl when it has dev lines (higher is better, the first of equals, as the trainer
picks its best checkpoint), else from result.json.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .jsonl_files import Located, ReportError, read_json, read_jsonl

METRICS_FILE = "metrics.jsonl"
RESULT_FILE = "result.json"
RECIPE_FILE = "recipe.yaml"

Point = tuple[int, float]
"""(step, value)."""


@dataclass(frozen=True)
class RunOverview:
    folder: Path
    label: str
    """'' for the run directory itself, the stage folder (`2-finetune`) for a stage."""
    metric: str | None
    outcome: str | None
    step: int | None
    best: Point | None
    last: Point | None
    train_loss: list[Point] = field(default_factory=list)
    dev_metric: list[Point] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _is_loss(key: str) -> bool:
    return key == "loss" or key.endswith(".loss")


def _recipe_metric(folder: Path) -> str | None:
    """The selection metric the trainer uses, from the run's resolved recipe (torch-free)."""
    if not (folder / RECIPE_FILE).is_file():
        return None
    from ..recipe.datasets import metric_key
    from ..recipe.errors import RecipeError
    from ..recipe.validate import load_recipe

    try:
        return metric_key(load_recipe(folder / RECIPE_FILE, check_data=False).recipe)
    except (RecipeError, OSError):
        return None


def metric_name(result: dict[str, Any] | None, dev: list[dict[str, Any]],
                folder: Path) -> str | None:
    if result and isinstance(result.get("metric"), str):
        return result["metric"]
    if not dev:
        return None
    found = _recipe_metric(folder)
    if found is not None:
        return found
    return next((k for k, v in dev[0].items()
                 if k not in ("time", "step", "split") and not _is_loss(k)
                 and _number(v) is not None), None)


def _check(path: Path, records: list[Located]) -> list[dict[str, Any]]:
    for number, record in records:
        if not isinstance(record.get("step"), int) or not isinstance(record.get("split"), str):
            raise ReportError(f"{path}:{number}: a metrics line needs an integer 'step' and a "
                              "'split'")
    return [r for _, r in records]


def _series(records: list[dict[str, Any]], split: str, key: str | None) -> list[Point]:
    if key is None:
        return []
    out = []
    for r in records:
        value = _number(r.get(key))
        if r["split"] == split and value is not None:
            out.append((r["step"], value))
    return out


def _best(points: list[Point]) -> Point | None:
    finite = [p for p in points if not math.isnan(p[1])]
    return max(finite, key=lambda p: p[1]) if finite else None


def _from_result(result: dict[str, Any], metric: str | None) -> tuple[Point | None,
                                                                      Point | None]:
    if metric is None:
        return None, None
    best_eval, last_eval = result.get("best_eval") or {}, result.get("last_eval") or {}
    best = last = None
    if _number(best_eval.get(metric)) is not None and isinstance(best_eval.get("step"), int):
        best = (best_eval["step"], float(best_eval[metric]))
    if _number(last_eval.get(metric)) is not None and isinstance(result.get("step"), int):
        last = (result["step"], float(last_eval[metric]))
    return best, last


def read_overview(folder: Path, label: str = "") -> RunOverview:
    """What one run folder (a run, or one stage of a staged run) recorded."""
    result = read_json(folder / RESULT_FILE)
    records: list[dict[str, Any]] = []
    warnings: list[str] = []
    if (folder / METRICS_FILE).is_file():
        located, warnings = read_jsonl(folder / METRICS_FILE)
        records = _check(folder / METRICS_FILE, located)
    dev = [r for r in records if r["split"] == "dev"]
    metric = metric_name(result, dev, folder)
    dev_points = _series(records, "dev", metric)
    if dev_points:
        best, last = _best(dev_points), dev_points[-1]
    else:
        best, last = _from_result(result or {}, metric)
    steps = [r["step"] for r in records]
    step = result.get("step") if result and isinstance(result.get("step"), int) else None
    return RunOverview(
        folder=folder, label=label, metric=metric,
        outcome=str(result["outcome"]) if result and "outcome" in result else None,
        step=step if step is not None else (max(steps) if steps else None),
        best=best, last=last, train_loss=_series(records, "train", "loss"),
        dev_metric=dev_points, warnings=warnings)


def overview_rows(view: RunOverview) -> list[tuple[str, str]]:
    """Name/value rows for printing."""
    rows = [("outcome", view.outcome or "running or interrupted (no result.json)")]
    if view.step is not None:
        rows.append(("steps", str(view.step)))
    if view.metric is not None:
        rows.append(("metric", view.metric))
    if view.best is not None:
        rows.append(("best dev", f"{view.best[1]:.4f} (step {view.best[0]})"))
    if view.last is not None:
        rows.append(("last dev", f"{view.last[1]:.4f} (step {view.last[0]})"))
    if not (view.folder / METRICS_FILE).is_file():
        rows.append(("metrics", f"no {METRICS_FILE}"))
    return rows
