"""The report of a run directory without the command line: files written to RUN_DIR/report/,
the run overview with or without selection logs, staged runs, and the errors that name what is
wrong (a missing folder, a folder that is no run, a corrupt line as file:line)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from report_runs import (
    METRIC,
    is_png,
    make_run,
    selection_record,
    write_jsonl,
    write_metrics,
)

from etdecl.report.jsonl_files import ReportError
from etdecl.report.overview import overview_rows, read_overview
from etdecl.report.run_report import build_report


def test_selection_table_markdown_and_pngs_are_written(tmp_path):
    run = make_run(tmp_path / "run", episodes=3)
    built = build_report(run)
    (sel,) = built.selections
    assert sel.name == "pick" and sel.history.type == "reinforced"
    assert sel.png == run / "report" / "selection-pick.png" and is_png(sel.png)
    assert is_png(run / "report" / "curves.png")
    # episode e keeps e+1 of 4 books (p 0.5) and none of 2 dvd (p 0.25, 0.75)
    assert [row[-3:] for row in sel.rows] == [
        ["25% (0.50)", "0% (0.50)", "17% (0.50)"],
        ["50% (0.50)", "0% (0.50)", "33% (0.50)"],
        ["75% (0.50)", "0% (0.50)", "50% (0.50)"],
    ]
    text = sel.markdown.read_text()
    assert text.startswith("# selector pick (reinforced): keep rate per source domain")
    assert "| 2 | 30 | 0.5020 | +0.0100 | 6 | 75% (0.50) | 0% (0.50) | 50% (0.50) |" in text


def test_a_long_run_shows_a_subset_on_screen_and_every_episode_in_markdown(tmp_path):
    run = make_run(tmp_path / "run", episodes=100)
    (sel,) = build_report(run, limit=30).selections
    assert len(sel.rows) == 30
    assert sel.rows[0][0] == "0" and sel.rows[-1][0] == "99"
    assert any("showing 30 of 100 episodes" in n for n in sel.notes)
    table_lines = [x for x in sel.markdown.read_text().splitlines() if x.startswith("| ")]
    assert len(table_lines) == 1 + 100  # the header, then every episode


def test_a_run_without_selection_logs_still_reports_its_curves(tmp_path):
    run = make_run(tmp_path / "run", selector=False)
    built = build_report(run)
    assert built.selections == []
    (unit,) = built.units
    assert unit.curves == run / "report" / "curves.png" and is_png(unit.curves)
    view = unit.overview
    assert view.metric == METRIC and view.outcome == "done" and view.step == 30
    assert view.best == (20, 0.8) and view.last == (30, 0.7)
    assert view.train_loss[:2] == [(5, 2.0), (10, 1.0)]
    rows = dict(overview_rows(view))
    assert rows["best dev"] == "0.8000 (step 20)" and rows["last dev"] == "0.7000 (step 30)"


def test_best_and_last_come_from_result_json_when_there_are_no_metrics(tmp_path):
    run = make_run(tmp_path / "run", selector=False)
    (run / "metrics.jsonl").unlink()
    built = build_report(run)
    view = built.units[0].overview
    assert (view.best, view.last) == ((20, 0.8), (30, 0.7))
    assert built.units[0].curves is None
    assert dict(overview_rows(view))["metrics"] == "no metrics.jsonl"


def test_a_running_run_without_result_json_takes_the_first_dev_value_that_is_no_loss(tmp_path):
    run = tmp_path / "run"
    write_metrics(run, [0.5, 0.9, 0.6, 0.9])
    view = read_overview(run)
    assert view.metric == METRIC and view.outcome is None
    assert view.best == (20, 0.9) and view.last == (40, 0.9) and view.step == 40


def test_each_stage_of_a_staged_run_is_reported_under_its_own_name(tmp_path):
    run = tmp_path / "staged"
    (run / "stages").mkdir(parents=True)
    (run / "recipe.yaml").write_text("etdecl: 1\n")
    make_run(run / "stages" / "1-warmup", selector=False)
    make_run(run / "stages" / "2-select", episodes=2)
    built = build_report(run)
    assert [u.overview.label for u in built.units] == ["1-warmup", "2-select"]
    assert [u.curves.name for u in built.units if u.curves] == [
        "curves-1-warmup.png", "curves-2-select.png"]
    (sel,) = built.selections
    assert sel.name == "2-select/pick"
    assert sel.png == run / "report" / "selection-2-select-pick.png" and is_png(sel.png)


def test_a_missing_folder_or_one_that_is_no_run_is_a_one_line_error(tmp_path):
    with pytest.raises(ReportError, match=r"nowhere does not exist$"):
        build_report(tmp_path / "nowhere")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ReportError, match=r"plain is not a run directory \(no recipe.yaml"):
        build_report(tmp_path / "plain")


def test_a_corrupt_selection_line_is_named_by_file_and_line(tmp_path):
    run = make_run(tmp_path / "run", episodes=4)
    log = run / "selection" / "pick.jsonl"
    lines = log.read_text().splitlines()
    lines[2] = lines[2][:40]
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReportError, match=rf"^{re.escape(str(log))}:3: not valid JSON"):
        build_report(run)
    assert not (run / "report").exists()  # nothing written from a run that cannot be read


def test_a_selection_record_with_fields_missing_is_named_by_file_and_line(tmp_path):
    run = make_run(tmp_path / "run", selector=False)
    log = write_jsonl(run / "selection" / "pick.jsonl", [
        selection_record(0, 10, ["a"], [1], [0.5]), {"episode": 1, "step": 20}])
    where = re.escape(f"{log}:2")
    with pytest.raises(ReportError, match=rf"^{where}: selection record lacks domain, kept"):
        build_report(run)


def test_a_corrupt_metrics_line_is_named_by_file_and_line(tmp_path):
    run = make_run(tmp_path / "run", selector=False)
    path = run / "metrics.jsonl"
    path.write_text(path.read_text().replace('"split": "dev"', '"split": dev', 1))
    with pytest.raises(ReportError, match=rf"^{re.escape(str(path))}:3: not valid JSON"):
        build_report(run)


def test_a_last_line_cut_short_while_training_is_passed_over_with_a_warning(tmp_path):
    run = make_run(tmp_path / "run", episodes=2)
    log = run / "selection" / "pick.jsonl"
    record = json.dumps(selection_record(2, 30, ["books"], [1], [0.5]))
    log.write_text(log.read_text() + record[:30])  # the writer is mid-line
    built = build_report(run)
    (sel,) = built.selections
    assert len(sel.history.episodes) == 2
    assert any(f"{log}:3: last line is cut short" in n for n in sel.notes)


def test_a_bayes_log_names_its_probability_a_rank_and_reports_its_references(tmp_path):
    run = make_run(tmp_path / "run", selector=False)
    record = selection_record(0, 0, ["a", "a", "b"], [1, 0, 1], [1.0, 0.0, 0.5],
                              metric=0.8, type_="bayes")
    record["reference"] = {"all_source": 0.7, "target_only": 0.6}
    write_jsonl(run / "selection" / "choose.jsonl", [record])
    (sel,) = build_report(run).selections
    assert is_png(sel.png)
    assert any("score rank, 1 = best" in n for n in sel.notes)
    assert "proxy dev accuracy of the choice 0.8000 (all source 0.7000, target only 0.6000)" \
        in sel.notes
    assert not Path(run / "report" / "selection-pick.png").exists()


def test_without_matplotlib_the_report_is_tables_and_markdown(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "matplotlib" else real(name, *a, **k))
    run = make_run(tmp_path / "run", episodes=2)
    built = build_report(run)
    assert built.units[0].curves is None and built.selections[0].png is None
    assert built.selections[0].markdown.is_file()
    assert any("matplotlib is not installed" in w for w in built.warnings)
    assert sorted(p.name for p in (run / "report").iterdir()) == ["selection-pick.md"]
