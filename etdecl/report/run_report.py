"""The whole report of one run directory: what to print and the files written to
`RUN_DIR/report/`.

A run directory is what `etdecl train` writes (recipe.yaml first, metrics.jsonl as it trains,
result.json at the end). A staged run keeps each stage in `stages/<k>-<name>/`, a run folder of
its own with its own metrics and selection logs: each is reported, its files named after the
stage (`curves-2-finetune.png`, `selection-2-finetune-pick.png`); the run's own are
`curves.png` and `selection-<selector>.png`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import keep_rates
from .jsonl_files import ReportError, read_selection_log
from .keep_rates import SelectionHistory
from .overview import METRICS_FILE, RECIPE_FILE, RESULT_FILE, RunOverview, read_overview
from .plots import MISSING, can_plot, plot_curves, plot_selection

REPORT_FOLDER = "report"
SELECTION_FOLDER = "selection"
"""`engine/selectors/records.FOLDER` (not imported: the selectors package imports torch)."""
STAGES_FOLDER = "stages"


@dataclass(frozen=True)
class SelectionReport:
    name: str
    """The selector, prefixed by its stage folder in a staged run (`2-finetune/pick`)."""
    log: Path
    history: SelectionHistory
    headers: list[str]
    rows: list[list[str]]
    """The episodes shown on screen (all of them in the markdown file)."""
    notes: list[str]
    png: Path | None
    markdown: Path


@dataclass(frozen=True)
class UnitReport:
    overview: RunOverview
    curves: Path | None


@dataclass(frozen=True)
class RunReport:
    run_dir: Path
    units: list[UnitReport]
    selections: list[SelectionReport]
    warnings: list[str] = field(default_factory=list)


def check_run_dir(run_dir: Path) -> None:
    """Raise a one-line ReportError unless `run_dir` is a run directory."""
    if not run_dir.exists():
        raise ReportError(f"{run_dir} does not exist")
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir} is a file, not a run directory")
    markers = (RECIPE_FILE, RESULT_FILE, METRICS_FILE, SELECTION_FOLDER, STAGES_FOLDER)
    if not any((run_dir / m).exists() for m in markers):
        raise ReportError(f"{run_dir} is not a run directory (no {', '.join(markers[:3])})")


def _stage_order(folder: Path) -> tuple[int, str]:
    k, _, _ = folder.name.partition("-")
    return (int(k) if k.isdigit() else 1 << 30, folder.name)


def run_units(run_dir: Path) -> list[tuple[str, Path]]:
    """(label, folder) of each run folder to report: the run itself ('') unless it is only the
    parent of its stages, then each stage in order."""
    stages_dir = run_dir / STAGES_FOLDER
    stages = sorted((d for d in stages_dir.iterdir() if d.is_dir()), key=_stage_order) \
        if stages_dir.is_dir() else []
    own = (run_dir / METRICS_FILE).is_file() or (run_dir / SELECTION_FOLDER).is_dir()
    units = [("", run_dir)] if own or not stages else []
    return units + [(d.name, d) for d in stages]


def selection_logs(folder: Path) -> list[Path]:
    return sorted((folder / SELECTION_FOLDER).glob("*.jsonl"))


def _read_selection(log: Path, label: str) -> tuple[str, SelectionHistory, list[str]]:
    """(name, history, notes) of one selector's log; raises ReportError on a bad line."""
    records, warnings = read_selection_log(log)
    history = keep_rates.selection_history(log, records)
    notes = [*warnings, keep_rates.legend(history)]
    reference = history.extra.get("reference")
    if isinstance(reference, dict) and history.episodes \
            and history.episodes[0].metric is not None:
        parts = ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in reference.items()
                          if isinstance(v, (int, float)))
        notes.append(f"proxy dev accuracy of the choice {history.episodes[0].metric:.4f}"
                     + (f" ({parts})" if parts else ""))
    return (f"{label}/{log.stem}" if label else log.stem), history, notes


def _write_selection(log: Path, name: str, history: SelectionHistory, notes: list[str],
                     out: Path, limit: int, draw: bool) -> SelectionReport:
    stem = name.replace("/", "-")
    title = f"selector {name} ({history.type or 'unknown type'}): keep rate per source domain"
    headers, all_rows = keep_rates.table(history)
    md_path = out / f"selection-{stem}.md"
    md_path.write_text(keep_rates.markdown(title, headers, all_rows, notes), encoding="utf-8")
    shown = keep_rates.shown_episodes(len(history.episodes), limit)
    notes = list(notes)
    if len(shown) < len(history.episodes):
        notes.append(f"showing {len(shown)} of {len(history.episodes)} episodes (the first, the "
                     f"last and evenly spaced between); {md_path.name} has them all")
    if not history.episodes:
        notes.append("no episodes logged yet")
    png = plot_selection(history, out / f"selection-{stem}.png", title) \
        if history.episodes and draw else None
    return SelectionReport(name=name, log=log, history=history, headers=headers,
                           rows=[all_rows[i] for i in shown], notes=notes, png=png,
                           markdown=md_path)


def build_report(run_dir: Path, limit: int = 30) -> RunReport:
    """Read every record of the run, then write the PNGs and markdown tables to
    RUN_DIR/report/ and return what to print. Raises ReportError (one line, naming file:line
    when a line of a log is bad) before anything is written."""
    check_run_dir(run_dir)
    keep_rates.shown_episodes(0, limit)  # a bad limit fails before any work
    views: list[RunOverview] = []
    logs: list[tuple[Path, str, SelectionHistory, list[str]]] = []
    for label, folder in run_units(run_dir):
        views.append(read_overview(folder, label))
        logs += [(log, *_read_selection(log, label)) for log in selection_logs(folder)]
    out = run_dir / REPORT_FOLDER
    try:
        out.mkdir(exist_ok=True)
    except OSError as e:
        raise ReportError(f"cannot write {out} ({e.strerror})") from None
    name = run_dir.resolve().name
    draw = can_plot()
    units = []
    for view in views:
        where = f"{name} stage {view.label}" if view.label else name
        path = out / (f"curves-{view.label}.png" if view.label else "curves.png")
        curves = plot_curves(view, path, f"{where}: training loss and dev metric") \
            if draw else None
        units.append(UnitReport(view, curves))
    selections = [_write_selection(log, sel_name, history, notes, out, limit, draw)
                  for log, sel_name, history, notes in logs]
    warnings = [w for view in views for w in view.warnings] + ([] if draw else [MISSING])
    return RunReport(run_dir=run_dir, units=units, selections=selections, warnings=warnings)
