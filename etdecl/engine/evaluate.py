"""One evaluator for training's dev evaluations, `etdecl evaluate` and `etdecl predict`.

Every rank runs the same number of batches (sharded plugins gather parameters collectively in
forward); ranks that report (one per data-parallel replica, the last pipeline stage) collect
each head's per-feature results, which are gathered on every rank, decoded per example by the
task, and scored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from ..data.tokens import DatasetFeatures, eval_batches

Forward = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor] | None]


def _all_gather(obj: Any) -> list[Any]:
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


@torch.no_grad()
def run_dataset(forward: Forward, ds: DatasetFeatures, batch_size: int, dp_size: int,
                dp_rank: int, reports: bool, with_targets: bool = True
                ) -> tuple[dict[str, list[Any]], dict[str, float]]:
    """Per head: raw results of every feature (feature order), and the summed loss."""
    heads = [t.name for t in ds.tasks]
    mine: list[tuple[np.ndarray, dict[str, list[Any]]]] = []
    loss = dict.fromkeys(heads, 0.0)
    for index, batch in eval_batches(ds, batch_size, dp_size, dp_rank, with_targets):
        out = forward(batch)
        if out is None or not reports or len(index) == 0:
            continue
        got: dict[str, list[Any]] = {}
        for task in ds.tasks:
            sub = {k.split(".", 1)[1]: v for k, v in out.items() if k.startswith(task.name + ".")}
            got[task.name] = task.gather(sub, batch)
            if "loss" in sub:
                loss[task.name] += float(sub["loss"].float().sum())
        mine.append((index, got))
    gathered = _all_gather((mine, loss))
    results: dict[str, list[Any]] = {h: [None] * len(ds.feats) for h in heads}
    totals = dict.fromkeys(heads, 0.0)
    for part, part_loss in gathered:
        for index, got in part:
            for h in heads:
                for i, r in zip(index.tolist(), got[h], strict=True):
                    results[h][i] = r
        for h in heads:
            totals[h] += part_loss[h]
    missing = [h for h in heads if any(r is None for r in results[h])]
    assert not missing, f"some features were not evaluated for {missing}"
    return results, totals


def score(ds: DatasetFeatures, results: dict[str, list[Any]],
          losses: dict[str, float]) -> tuple[dict[str, Any], dict[str, list[dict]]]:
    """(metrics keyed `<head>.<metric>`, predictions per head) of one evaluated dataset."""
    metrics: dict[str, Any] = {}
    predictions: dict[str, list[dict]] = {}
    for task in ds.tasks:
        preds = task.decode(results[task.name], ds.feats, ds.examples)
        predictions[task.name] = preds
        for k, v in task.metrics(preds, ds.examples).items():
            metrics[f"{task.name}.{k}"] = v
        metrics[f"{task.name}.loss"] = losses[task.name] / max(1, len(ds.feats))
    return metrics, predictions


def evaluate_all(forward: Forward, sets: list[DatasetFeatures], batch_size: int, dp_size: int,
                 dp_rank: int, reports: bool) -> dict[str, Any]:
    """Every dev dataset's metrics, and `loss`: the mean of the heads' dev losses."""
    metrics: dict[str, Any] = {}
    for ds in sets:
        results, losses = run_dataset(forward, ds, batch_size, dp_size, dp_rank, reports)
        metrics.update(score(ds, results, losses)[0])
    head_losses = [v for k, v in metrics.items() if k.endswith(".loss")]
    metrics["loss"] = float(np.mean(head_losses)) if head_losses else float("nan")
    return metrics
