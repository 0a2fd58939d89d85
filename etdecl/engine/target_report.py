"""The source/target setting's report: the target domain's dev figures first in the summary,
and on their own in result.json (keyed as for one domain: `sentiment.accuracy`)."""

from __future__ import annotations

from typing import Any


def _suffix(target: str) -> str:
    return f"[{target}]"


def target_first(metrics: dict[str, Any], target: str | None) -> dict[str, Any]:
    """`metrics` with the target domain's entries (`HEAD.METRIC[target]`) moved to the front."""
    if target is None:
        return metrics
    mine = {k: v for k, v in metrics.items() if k.endswith(_suffix(target))}
    return {**mine, **{k: v for k, v in metrics.items() if k not in mine}}


def target_metrics(metrics: dict[str, Any], target: str) -> dict[str, Any]:
    """The target domain's dev metrics, keyed without the domain."""
    end = _suffix(target)
    return {k[: -len(end)]: v for k, v in metrics.items() if k.endswith(end)}


def target_report(target: str | None, best: dict[str, Any] | None,
                  last: dict[str, Any] | None) -> dict[str, Any]:
    """result.json's `target` entry (nothing without a target domain): the domain, and its dev
    metrics at the best checkpoint (with its step) and at the last evaluation."""
    if target is None:
        return {}
    best = best or {}
    report: dict[str, Any] = {"domain": target, "best": target_metrics(best, target),
                              "last": target_metrics(last or {}, target)}
    if "step" in best:
        report["best"]["step"] = best["step"]
    return {"target": report}
