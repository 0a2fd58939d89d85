"""The report's PNGs: keep rate per source domain over steps (with the dev metric the selector
saw, when it has one) and the run's training loss and dev metric.

matplotlib is imported when a plot is drawn, and only its object API is used (a `Figure` drawn
by the Agg canvas), so no pyplot state or global backend is touched: safe in tests, in threads
and with no display.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from .keep_rates import ALL, SelectionHistory
from .overview import Point, RunOverview

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MISSING = "no PNGs: matplotlib is not installed (pip install 'etdecl[experiments]')"
"""matplotlib is an optional dependency; without it the report is tables and markdown only."""

MARKERS_UP_TO = 40
"""Points per line drawn with markers (a one-episode bayes log would otherwise be invisible)."""


def can_plot() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _figure(panels: int) -> tuple[Figure, list[Axes]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height = 3.0 * panels + 0.6
    fig = Figure(figsize=(8, height))
    FigureCanvasAgg(fig)
    # fixed margins: a layout engine measures every label and doubles the drawing time
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.5 / height, top=1 - 0.35 / height,
                        hspace=0.12)
    axes = fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    return fig, list(axes)


def _line(ax: Axes, points: list[Point], label: str, **style: object) -> None:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    marker = "o" if len(points) <= MARKERS_UP_TO else None
    ax.plot(xs, ys, label=label, marker=marker, markersize=3, **style)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path


def plot_selection(history: SelectionHistory, path: Path, title: str) -> Path:
    """Keep rate per domain (and all) against the step each episode ended at; a second panel
    with the episode's dev metric when the log has one."""
    metric: list[Point] = [(e.step, e.metric) for e in history.episodes
                           if e.metric is not None]
    fig, axes = _figure(2 if metric else 1)
    ax = axes[0]
    for domain in [*history.domains, ALL]:
        points = [(e.step, e.shares[domain].rate) for e in history.episodes
                  if domain in e.shares]
        style = {"color": "black", "linestyle": "--"} if domain == ALL else {}
        _line(ax, points, domain, **style)
    ax.set_ylabel("keep rate")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    if metric:
        _line(axes[1], metric, "dev metric", color="tab:purple")
        axes[1].set_ylabel("dev metric")
        axes[1].grid(alpha=0.3)
    axes[-1].set_xlabel("step")
    return _save(fig, path)


def plot_curves(view: RunOverview, path: Path, title: str) -> Path | None:
    """Training loss and dev metric against step; None when the run logged neither."""
    panels = [(view.train_loss, "train loss", "tab:blue"),
              (view.dev_metric, f"dev {view.metric}", "tab:orange")]
    panels = [p for p in panels if p[0]]
    if not panels:
        return None
    fig, axes = _figure(len(panels))
    for ax, (points, label, color) in zip(axes, panels, strict=True):
        _line(ax, points, label, color=color)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_title(title)
    axes[-1].set_xlabel("step")
    return _save(fig, path)
