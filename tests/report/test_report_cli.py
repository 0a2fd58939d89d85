"""`etdecl report RUN_DIR` through the command line: the tables and the paths it prints, and
exit code 2 with one line on stderr for what cannot be reported."""

from __future__ import annotations

from report_runs import is_png, make_run

from etdecl.cli import app


def test_report_prints_overview_and_keep_rate_table_and_the_files(runner, tmp_path):
    run = make_run(tmp_path / "run", episodes=40)
    result = runner.invoke(app, ["report", str(run), "--episodes", "5"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "best dev" in out and "0.8000 (step 20)" in out
    assert "selector pick (reinforced): keep rate per source domain" in out
    assert "books" in out and "dvd" in out and "kept (p)" in out
    assert "showing 5 of 40 episodes" in out
    png, md = run / "report" / "selection-pick.png", run / "report" / "selection-pick.md"
    assert f"wrote {png}" in out and f"wrote {md}" in out
    assert is_png(png) and is_png(run / "report" / "curves.png")


def test_report_without_selection_logs_says_so(runner, tmp_path):
    run = make_run(tmp_path / "run", selector=False)
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert "no selection logs" in result.stdout
    assert str(run / "report" / "curves.png") in result.stdout


def test_report_of_a_missing_folder_exits_2_with_one_line(runner, tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'nope'} does not exist\n"
    assert "Traceback" not in result.output


def test_report_of_a_corrupt_log_exits_2_naming_file_and_line(runner, tmp_path):
    run = make_run(tmp_path / "run", episodes=3)
    log = run / "selection" / "pick.jsonl"
    log.write_text("{broken\n" + log.read_text())
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {log}:1: not valid JSON")
    assert result.stderr.count("\n") == 1
