"""`etdecl report RUN_DIR`: what a run did, from its files: per selector the keep rate of each
source domain over the episodes (a table, a markdown copy and a PNG), and the run's best and
last dev metric with its loss and metric curves. Torch-free; reads a run while it trains too.

The work is in `etdecl/report/`; this module only prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _console
from ._console import say


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `etdecl train` "
                                                 "(finished or still training).")],
    episodes: Annotated[int, typer.Option(
        "--episodes", min=2, help="Most episodes a table shows; a longer run shows the first, "
        "the last and evenly spaced ones (the markdown file has all).")] = 30,
) -> None:
    """Keep rate per source domain over time for each instance selector, and the run's dev
    metric and loss curves; tables printed, PNGs and markdown written to RUN_DIR/report/.

    Exit 2 when RUN_DIR is not a run directory or one of its logs is corrupt (file:line said).
    Example: `etdecl report runs/rtl-books`
    """
    from ..report.jsonl_files import ReportError
    from ..report.overview import overview_rows
    from ..report.run_report import build_report
    from ..tables import fitted_tables, key_value_table

    try:
        built = build_report(run_dir, limit=episodes)
    except ReportError as e:
        say(f"error: {e}", stderr=True)
        raise typer.Exit(2) from None
    out = _console.out
    for warning in built.warnings:
        say(f"warning: {warning}", stderr=True)
    for unit in built.units:
        view = unit.overview
        title = f"run {run_dir}" + (f" stage {view.label}" if view.label else "")
        rows = overview_rows(view)
        if unit.curves is not None:
            rows.append(("curves", str(unit.curves)))
        out.print(key_value_table(out, title, rows), soft_wrap=False)
    if not built.selections:
        say("no selection logs (the run has no instance selector)")
    for sel in built.selections:
        say("")
        title = (f"selector {sel.name} ({sel.history.type or 'unknown type'}): keep rate per "
                 "source domain")
        for table in fitted_tables(out, title, sel.headers, sel.rows):
            out.print(table, soft_wrap=False)
        for note in sel.notes:
            say(note)
        if sel.png is not None:
            say(f"wrote {sel.png}")
        say(f"wrote {sel.markdown}")
