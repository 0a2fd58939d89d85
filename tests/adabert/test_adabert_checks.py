"""What `etdecl validate` says about AdaBERT recipes, without torch: each problem located at
the key to change (file:line:col)."""

from __future__ import annotations

from pathlib import Path

import pytest
from adabert_support import METHOD, STAGES, adabert_recipe
from teacher_support import make_run, problems_of


def line_of(path: Path, text: str, nth: int = 0) -> int:
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    return hits[nth]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    make_run(tmp_path / "runs" / "teacher")
    return tmp_path


def recipe(folder: Path, **kw) -> Path:
    return adabert_recipe(folder, Path("runs/teacher"), **kw)


def test_the_search_and_its_staged_retrain_validate(folder: Path) -> None:
    path = recipe(folder, extra=STAGES)
    assert [p for p in problems_of(path) if p.severity == "error"] == []


def test_a_searched_encoder_needs_the_adabert_method(folder: Path) -> None:
    path = recipe(folder, method="{type: distill, cache: false}")
    (p,) = problems_of(path)
    assert p.path == "method.type" and "only method 'adabert' searches" in p.message
    assert p.loc.line == line_of(path, "method:")


def test_the_adabert_method_needs_a_searched_encoder(folder: Path) -> None:
    path = recipe(folder, architecture="[[{input: 0, op: cnn3}], [{input: 2, op: cnn5}]]")
    (p,) = [p for p in problems_of(path) if p.severity == "error"]
    assert p.path == "method.type" and "has none" in p.message


def test_the_search_needs_the_ddp_plugin(folder: Path) -> None:
    path = recipe(folder, extra="parallel: {plugin: zero}\n")
    (p,) = [p for p in problems_of(path) if p.path == "parallel.plugin"]
    assert "ddp" in p.message and p.loc.line == line_of(path, "parallel:")


def test_an_inline_architecture_is_checked_at_the_failing_edge(folder: Path) -> None:
    arch = "\n      - [{input: 0, op: cnn3}]\n      - [{input: 1, op: cnn5}, {input: 4, op: cnn3}]"
    path = recipe(folder, method="{type: distill, cache: false}", architecture=arch)
    (p,) = problems_of(path)
    assert "node 1, edge 1: input 4 does not exist" in p.message
    assert p.path == "encoders.student.architecture[1][1]"
    assert (p.loc.line, p.loc.col) == (line_of(path, "{input: 4"),
                                       path.read_text().splitlines()[
                                           line_of(path, "{input: 4") - 1].index("{input: 4") + 1)


def test_an_architecture_with_another_node_count_is_refused(folder: Path) -> None:
    path = recipe(folder, method="{type: distill, cache: false}",
                  architecture="[[{input: 0, op: cnn3}]]")
    (p,) = problems_of(path)
    assert "1 node(s) but encoder 'student' declares nodes: 2" in p.message


def test_an_architecture_file_not_written_yet_is_a_warning_and_a_bad_one_an_error(
        folder: Path) -> None:
    path = recipe(folder, method="{type: distill, cache: false}",
                  architecture="search-run/architecture.yaml")
    (p,) = problems_of(path)
    assert p.severity == "warning" and "does not exist (yet)" in p.message
    (folder / "search-run").mkdir()
    (folder / "search-run" / "architecture.yaml").write_text(
        "encoders:\n  student:\n    architecture:\n      - [{input: 0, op: conv9}]\n"
        "      - [{input: 0, op: cnn3}]\n")
    (p,) = problems_of(path)
    assert p.severity == "error" and "op 'conv9' is not one of" in p.message
    assert p.path == "encoders.student.architecture"
    assert p.loc.line == line_of(path, "architecture:")
    (folder / "search-run" / "architecture.yaml").write_text(
        "encoders:\n  student:\n    architecture:\n      - [{input: 0, op: cnn7}]\n"
        "      - [{input: 2, op: cnn3}]\n")
    assert problems_of(path) == []


def test_derived_start_must_follow_a_search_stage(folder: Path) -> None:
    stages = ("stages:\n  - {name: first, method: {type: distill, cache: false}, "
              "start: derived}\n  - {name: search}\n")
    path = recipe(folder, extra=stages)
    problems = [p for p in problems_of(path) if p.path == "stages[0].start"]
    assert len(problems) == 1 and "the stage before must search" in problems[0].message
    assert METHOD  # the default search method of these recipes


def test_an_op_typo_is_located_at_the_op_alone(folder: Path) -> None:
    """The union `architecture: <file> | [[edge]]` reports the list's own error, not also
    'expected a string'."""
    arch = "\n      - [{input: 0, op: cnn3}]\n      - [{input: 1, op: cnn9}]"
    path = recipe(folder, method="{type: distill, cache: false}", architecture=arch)
    (p,) = problems_of(path)
    assert p.path == "encoders.student.architecture[1][0].op"
    assert "did you mean 'cnn7'" in p.render()
    line = line_of(path, "cnn9")
    assert (p.loc.line, p.loc.col) == (line, path.read_text().splitlines()[line - 1].index(
        "cnn9") + 1)
