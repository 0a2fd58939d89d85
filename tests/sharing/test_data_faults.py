"""Data faults end to end: `etdecl train` on an empty file, a missing field, a wrong label,
invalid UTF-8 and a truncated last line stops with the data file and line (no traceback), or,
under `on_bad_row: skip`, counts them and reports them at the end of the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sharing_support import run_together, synthetic_rows, tiny_recipe

from etdecl.data.examples import load_splits
from etdecl.datafiles.readers import DataError, iter_rows
from etdecl.recipe.validate import load_recipe

BAD_LINE = 7  # past the first rows, which `validate` already peeks at: training must find it


def rows_bytes(rows: list[dict]) -> list[bytes]:
    return [json.dumps(r).encode() + b"\n" for r in rows]


def faulty(kind: str) -> bytes:
    """The synthetic training file with one fault of the given kind."""
    lines = rows_bytes(synthetic_rows(96, seed=1))
    i = BAD_LINE - 1
    if kind == "empty":
        return b""
    if kind == "missing-field":
        row = json.loads(lines[i])
        del row["label"]
        lines[i] = json.dumps(row).encode() + b"\n"
    elif kind == "wrong-label":
        lines[i] = lines[i].replace(b'"label": "pos"', b'"label": "neutral"').replace(
            b'"label": "neg"', b'"label": "neutral"')
    elif kind == "invalid-utf8":
        lines[i] = lines[i].replace(b'"text": "', b'"text": "\xff\xfe', 1)
    elif kind == "truncated-last-line":
        lines[-1] = lines[-1][: len(lines[-1]) // 2]  # no line break, half a JSON object
    return b"".join(lines)


ERRORS = {  # kind: (line, what the message says)
    "missing-field": (BAD_LINE, "missing field 'label'"),
    "wrong-label": (BAD_LINE, "label 'neutral' is not one of the head's labels"),
    "invalid-utf8": (BAD_LINE, "invalid UTF-8"),
    "truncated-last-line": (96, "truncated last line"),
}
EARLY = 3
"""Line of the fault in the CLI runs. `train` validates first, and validation reads the first
rows: a row it cannot read (bad UTF-8, a truncated line) or whose label the head does not list
stops it there, before torch starts; a missing field is found by the trainer's data loading."""
BEFORE_TORCH = {"invalid-utf8", "truncated-last-line", "wrong-label"}


def early(kind: str) -> bytes:
    """A short file with the fault on line 3 (the last line, for a truncated one)."""
    lines = faulty(kind).splitlines(keepends=True)
    if kind == "truncated-last-line":
        return b"".join(lines[:EARLY - 1]) + lines[-1]
    return b"".join(lines[:EARLY - 1] + [lines[BAD_LINE - 1]] + lines[EARLY:40])


def test_train_names_the_file_and_line_of_each_fault(tmp_path: Path, token_cache) -> None:
    """Each kind through the real CLI (four runs at once), with no traceback."""
    runs = []
    for kind in ERRORS:
        recipe = tiny_recipe(tmp_path / kind, n_train=40, n_dev=16)
        (tmp_path / kind / "train.jsonl").write_bytes(early(kind))
        runs.append(("train", str(recipe), "--run-dir", str(tmp_path / kind / "run")))
    for kind, done in zip(ERRORS, run_together(runs, cwd=tmp_path, cache=token_cache),
                          strict=True):
        data = tmp_path / kind / "train.jsonl"
        assert done.returncode == 1, (kind, done.stderr[-2000:])
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        said = "".join(done.stderr.split())  # rich may wrap a long path anywhere
        assert f"{data}:{EARLY}:dataerror:" in said, (kind, done.stderr[-2000:])
        assert "".join(ERRORS[kind][1].split()) in said, (kind, done.stderr[-2000:])
        if kind in BEFORE_TORCH:
            assert not (tmp_path / kind / "run").exists()  # refused before anything started


@pytest.mark.parametrize("kind", list(ERRORS))
def test_training_data_loading_names_the_file_and_line(tmp_path: Path, kind: str) -> None:
    """Deep in a file, past the rows validation reads, the examples loader the trainer calls
    finds each fault at its line."""
    recipe = tiny_recipe(tmp_path, n_train=96)
    data = tmp_path / "train.jsonl"
    data.write_bytes(faulty(kind))
    loaded = load_recipe(recipe)  # validate sees only good rows
    line, says = ERRORS[kind]
    with pytest.raises(DataError) as info:
        load_splits(loaded)
    assert (info.value.file, info.value.line) == (str(data), line)
    assert str(info.value).startswith(f"{data}:{line}: data error: ") and says in str(info.value)


@pytest.mark.parametrize("policy", ["error", "skip"])
def test_an_empty_file_is_an_error_under_either_policy(tmp_path: Path, runner, policy) -> None:
    """There is no row to skip: the run could not start. `train` says so before any import."""
    from etdecl.cli import app

    recipe = tiny_recipe(tmp_path)
    (tmp_path / "train.jsonl").write_bytes(faulty("empty"))
    result = runner.invoke(app, ["train", str(recipe), "--run-dir", str(tmp_path / "run"),
                                 "--set", f"data.on_bad_row={policy}"])
    assert result.exit_code == 1
    assert f"{tmp_path / 'train.jsonl'}: data error: data file is empty" in result.stderr
    assert f"{recipe.name}:4:" in result.stderr  # and where the recipe names the file
    assert not (tmp_path / "run").exists()


def test_skip_counts_every_kind_and_reports_it_at_the_end(tmp_path: Path, token_cache) -> None:
    recipe = tiny_recipe(tmp_path, n_train=96, n_dev=16)
    lines = rows_bytes(synthetic_rows(96, seed=1))
    for kind, at in (("missing-field", 7), ("wrong-label", 20), ("invalid-utf8", 40)):
        lines[at - 1] = faulty(kind).splitlines(keepends=True)[BAD_LINE - 1]
    lines[-1] = lines[-1][:30]
    data = tmp_path / "train.jsonl"
    data.write_bytes(b"".join(lines))
    run = tmp_path / "run"
    [done] = run_together([("train", str(recipe), "--run-dir", str(run), "--set",
                            "data.on_bad_row=skip")], cwd=tmp_path, cache=token_cache)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = {f"{data}: missing field 'label'": 1,
                f"{data}: label not among the head's labels": 1,
                f"{data}: invalid UTF-8": 1,
                f"{data}: truncated last line": 1}
    result = json.loads((run / "result.json").read_text())
    assert result["outcome"] == "done"
    assert result["skipped_rows"] == expected
    summary = (run / "summary.md").read_text()
    for reason in expected:
        assert f"| skipped rows: {reason} | 1 |" in summary
    said = "".join(done.stderr.split())
    assert "skippedrows:" in said and "invalidUTF-8" in said  # the table at the end of the run


def test_skip_reads_past_bad_rows(tmp_path: Path) -> None:
    """Under skip, reading goes on after a row the reader cannot parse (it used to stop)."""
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "a"}\n{"text": "\xff"}\n{"text"\n[1]\n{"text": "b"}\n{"te')
    bad = []
    rows = list(iter_rows(path, "d.jsonl", on_bad_line=bad.append))
    assert [r.line for r in rows] == [1, 5]
    assert [(e.line, e.kind) for e in bad] == [(2, "invalid UTF-8"), (3, "invalid JSON"),
                                             (4, "not a JSON object"),
                                             (6, "truncated last line")]
    csv = tmp_path / "d.csv"
    csv.write_bytes(b'text,label\na,pos\nb\xff,neg\nc,neg,extra\n"d\ne",pos\nf')
    bad = []
    rows = list(iter_rows(csv, "d.csv", on_bad_line=bad.append))
    assert [(r.line, r.values["text"]) for r in rows] == [(2, "a"), (5, "d\ne")]
    assert [(e.line, e.kind) for e in bad] == [(3, "invalid UTF-8"),
                                             (4, "wrong number of columns"),
                                             (7, "truncated last line")]


def test_validate_under_skip_warns_about_bad_rows_it_peeks_at(tmp_path: Path) -> None:
    recipe = tiny_recipe(tmp_path)
    (tmp_path / "train.jsonl").write_bytes(faulty("invalid-utf8").replace(
        b"\n", b"\n\xff\n", 1))  # a bad second line, inside the rows validate reads
    loaded = load_recipe(recipe, ["data.on_bad_row=skip"])
    [warning] = [w for w in loaded.warnings if "will be skipped" in w.message]
    assert f"{tmp_path / 'train.jsonl'}:2" in warning.message
    with pytest.raises(Exception, match=r"train.jsonl:2: data error: invalid UTF-8"):
        load_recipe(recipe)
