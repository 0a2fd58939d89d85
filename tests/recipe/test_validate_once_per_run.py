"""`etdecl validate DIR` at CI scale reads each data file, parent recipe and model config once per
run, and gives the same answers as reading them each time. See docs/ci.md (speed) and
bench/validate_speed.py for the figures."""

from __future__ import annotations

import bz2
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic._internal._docs_extraction import extract_docstrings_from_cls

from etdecl.cli import app
from etdecl.datafiles import peek_cache
from etdecl.datafiles.errors import DataError
from etdecl.datafiles.readers import peek_rows
from etdecl.recipe import load
from etdecl.recipe.docstrings import attribute_docstrings
from etdecl.recipe.section import Section

ROOT = Path(__file__).resolve().parents[2]

LINES = ['{"text": "a", "label": "pos"}', '{"text": "b", "label": "neg"}']
DATA_FILES = {  # name → bytes: readable, bad rows among the first ones, unreadable
    "good.jsonl": "\n".join(LINES * 4).encode(),
    "bad-json.jsonl": "\n".join([LINES[0], "{nope", LINES[1], "[1, 2]"] + LINES * 3).encode(),
    "all-bad.jsonl": b"{x\n{y\n{z\n",
    "short-row.csv": b"text,label\na,pos\nb\nc,neg\nd,pos,extra\ne,neg\nf,pos\ng,neg\n",
    "latin1.csv": "text,label\ncaf\xe9,pos\nb,neg\n".encode("latin-1"),
    "utf16.tsv": "text\tlabel\na\tpos\nb\tneg\n".encode("utf-16"),
    "packed.jsonl.gz": gzip.compress("\n".join(LINES * 4).encode()),
    "cut.jsonl.bz2": bz2.compress("\n".join(LINES * 400).encode())[:60],
    "image.jsonl": b"\x89PNG\r\n\x1a\n" + bytes(64),
    "empty.csv": b"",
}


def _outcome(read, path: Path, lenient: bool) -> tuple:
    """Rows, bad rows handed on and the error raised, as comparable values."""
    bad: list[str] = []
    try:
        rows = read(path, path.name, "auto", 5, (lambda e: bad.append(str(e))) if lenient
                    else None)
    except DataError as err:
        return (None, bad, str(err))
    return ([(r.values, r.file, r.line) for r in rows], bad, None)


@pytest.fixture(autouse=True)
def _fresh_caches():
    peek_cache.clear()
    load._PARSED.clear()
    yield
    peek_cache.clear()
    load._PARSED.clear()


@pytest.mark.parametrize("lenient", [False, True], ids=["stop-at-bad-row", "skip-bad-rows"])
@pytest.mark.parametrize("name", sorted(DATA_FILES))
def test_cached_peek_answers_as_a_fresh_read(tmp_path, name, lenient) -> None:
    path = tmp_path / name
    path.write_bytes(DATA_FILES[name])
    expected = _outcome(peek_rows, path, lenient)
    other = _outcome(peek_cache.peek_rows_once, path, not lenient)  # fills the cache
    assert other == _outcome(peek_rows, path, not lenient)
    assert _outcome(peek_cache.peek_rows_once, path, lenient) == expected  # from the cache
    assert _outcome(peek_cache.peek_rows_once, path, lenient) == expected


def test_a_file_changed_during_the_run_is_read_again(tmp_path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(LINES[0] + "\n")
    first = peek_cache.peek_rows_once(path, "d.jsonl")
    path.write_text('{"body": "x", "label": "pos", "extra": 1}\n')
    second = peek_cache.peek_rows_once(path, "d.jsonl")
    assert first[0].values["text"] == "a" and second[0].values["body"] == "x"


def _folder(tmp_path: Path, recipes: int) -> Path:
    """`recipes` recipes extending one parent, all reading the same two data files."""
    (tmp_path / "train.jsonl").write_text("\n".join(LINES * 3) + "\n")
    (tmp_path / "dev.jsonl").write_text("\n".join(LINES) + "\n")
    (tmp_path / "base.yaml").write_text(
        "etdecl: 1\nname: base\n"
        "data: {train: {path: train.jsonl}, dev: {path: dev.jsonl}, "
        "fields: {text: text, label: label}}\n"
        "encoders: {enc: {type: hf, model: minilm-l6, pooling: mean}}\n"
        "heads: {cls: {type: classify, input: enc, labels: [neg, pos]}}\n")
    for i in range(recipes):
        (tmp_path / f"r{i}.yaml").write_text(
            f"extends: base.yaml\nname: r{i}\ntrain: {{seed: {i}, lr: 0.00{i + 1}}}\n")
    return tmp_path


@pytest.mark.parametrize("recipes", [1, 4, 12])
def test_validate_reads_each_file_once_per_run(tmp_path, runner, monkeypatch, recipes) -> None:
    folder = _folder(tmp_path, recipes)
    reads: list[str] = []
    parses: list[str] = []
    real_peek, real_parse = peek_cache.peek_rows, load._parse_text
    monkeypatch.setattr(peek_cache, "peek_rows",
                        lambda path, *a, **k: reads.append(Path(path).name) or real_peek(
                            path, *a, **k))
    monkeypatch.setattr(load, "_parse_text",
                        lambda text, file: parses.append(Path(file).name) or real_parse(
                            text, file))
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"{recipes + 1} of {recipes + 1} recipe(s) valid" in result.output
    assert sorted(reads) == ["dev.jsonl", "train.jsonl"]
    assert sorted(parses) == sorted(["base.yaml"] + [f"r{i}.yaml" for i in range(recipes)])


def test_a_cached_parse_hands_out_independent_trees() -> None:
    text = "etdecl: 1\nname: x\ntrain: {lr: 0.1}\n"
    first = load.parse_text(text, "x.yaml")
    first.data["train"]["lr"] = 9
    first.values.clear()
    second = load.parse_text(text, "x.yaml")
    assert second.data["train"]["lr"] == 0.1 and ("train", "lr") in second.values


def _sections() -> list[type]:
    import etdecl.recipe.schema  # noqa: F401  (registers every built-in section)

    todo, seen = [Section], []
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                todo.append(sub)
    return [c for c in seen if c.__module__.startswith("etdecl.")]


@pytest.mark.parametrize("cls", _sections(), ids=lambda c: c.__name__)
def test_field_descriptions_are_pydantics_attribute_docstrings(cls) -> None:
    pydantics = extract_docstrings_from_cls(cls, use_inspect=True)
    assert attribute_docstrings(cls) == pydantics
    for name, info in cls.model_fields.items():
        if name in pydantics and name in cls.__annotations__:
            assert info.description == pydantics[name]


def test_a_section_defined_in_a_function_gets_its_descriptions() -> None:
    class Local(Section):
        size: int = 3
        """How many."""
        plain: str = "x"

    assert Local.model_fields["size"].description == "How many."
    assert Local.model_fields["plain"].description is None
    assert Local(size=4).size == 4


def _imported(*args: str) -> set[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "etdecl.cli", *args],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:")}


@pytest.mark.parametrize(("args", "absent"), [
    (("--help",), ("etdecl.recipe.schema", "pydantic", "ruamel")),
    (("validate", "recipes/", "--no-data"), ("rich", "etdecl.recipe.jsonschema")),
])
def test_start_up_imports_only_what_the_command_needs(args, absent) -> None:
    imported = _imported(*args)
    assert not {m for m in imported if m.split(".")[0] in absent or m in absent}


def test_a_lone_carriage_return_in_broken_yaml_is_still_located(tmp_path, runner) -> None:
    """Found by tests/sharing/test_fuzz_validate.py: ruamel counts a lone CR as a line break."""
    path = tmp_path / "soup.yaml"
    path.write_bytes(b":- \r\r::")
    result = runner.invoke(app, ["validate", str(path), "--format", "json"])
    assert result.exit_code == 1
    (entry,) = json.loads(result.stdout)["files"]
    assert entry["problems"] and all(p["loc"]["line"] >= 1 for p in entry["problems"])
