"""The report reads selection logs without importing the selectors package (which imports
torch); these tests hold its reader to the format's own (`engine/selectors/records.py`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from report_runs import make_run

from etdecl.report.jsonl_files import read_selection_log
from etdecl.report.run_report import SELECTION_FOLDER

ROOT = Path(__file__).resolve().parents[2]


def test_the_report_reads_a_log_as_the_selectors_write_and_read_it(tmp_path):
    from etdecl.engine.selectors.records import FOLDER, SelectionLog, log_path, read_log

    assert SELECTION_FOLDER == FOLDER
    run = make_run(tmp_path / "run", selector=False)
    log = SelectionLog(run, "pick")
    for e in range(3):
        log.write({"selector": "pick", "type": "minimax", "episode": e, "step": 5 * e,
                   "metric": None, "reward": 0.1 * e, "baseline": None, "index": [0, 1],
                   "domain": ["a", "b"], "prob": [0.5, 0.25], "kept": [1, e % 2]})
    log.truncate(5)
    records, warnings = read_selection_log(log_path(run, "pick"))
    assert warnings == [] and [n for n, _ in records] == [1, 2]
    assert [r for _, r in records] == read_log(log_path(run, "pick"))


def test_reading_a_run_imports_neither_torch_nor_matplotlib_until_it_plots():
    code = ("import sys; import etdecl.report.run_report, etdecl.commands.report; "
            "print(sorted(m for m in ('torch', 'numpy', 'matplotlib') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""}, check=True)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr
