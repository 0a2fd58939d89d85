"""Data-file fuzzing: what to generate, and the properties every generated file must hold.

Generated: tables written the way spreadsheet programs and scripts write them (JSONL, or CSV/TSV
with any delimiter, quoting and line ending, a `sep=` line, blank or duplicate header names,
huge fields, embedded newlines), encoded (UTF-8 with or without a byte-order mark, UTF-16/32,
Windows-1252), compressed or not under any name, then often mutated byte by byte; and raw bytes.

The properties: the reader gives rows or a DataError naming the file and a line; `validate`
(load_recipe with data checks) gives a valid recipe or located problems; the examples loader
the trainer calls gives examples or a located DataError; nothing else ever escapes. A clean
spreadsheet file reads back exactly as written.

Used by tests/sharing/test_fuzz_data.py (profiles `ci` and `nightly`).
"""

from __future__ import annotations

import atexit
import bz2
import csv
import gzip
import io
import json
import lzma
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from etdecl.data.examples import load_splits
from etdecl.datafiles.readers import DataError, Row, iter_rows
from etdecl.recipe.errors import RecipeError
from etdecl.recipe.validate import load_recipe

LABELS = ["neg", "pos"]
RECIPE = """\
etdecl: 1
name: fuzz-data
data:
  train: {{path: '{name}'}}
  dev: {{path: dev.jsonl}}
  fields: {{text: text, label: label}}
  on_bad_row: {policy}
encoders:
  enc: {{type: hf, tokenizer: minilm-l6, config: {{model_type: bert, hidden_size: 32,
         num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 64}}}}
heads:
  cls: {{type: classify, input: enc, labels: [neg, pos]}}
"""

_FOLDER: Path | None = None


def folder() -> Path:
    """A scratch folder holding the recipe, a good dev file and the generated data file."""
    global _FOLDER
    if _FOLDER is None:
        _FOLDER = Path(tempfile.mkdtemp(prefix="etdecl-fuzz-data-"))
        atexit.register(shutil.rmtree, _FOLDER, True)
        (_FOLDER / "dev.jsonl").write_text('{"text": "a", "label": "pos"}\n'
                                           '{"text": "b", "label": "neg"}\n')
    return _FOLDER


# ── tables ───────────────────────────────────────────────────────────────────────────────────

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_ ]{0,9}", fullmatch=True)
MESSY = ["", " ", ",", ";", "\t", "|", '"', "'", "\n", "\r", "\r\n", "\\", "\x00", "\ufeff",
         "é", "日本", "\u2028", "\x85", "😀", "pos", "neg", "sep=;", "{", "[1]", "null"]
cells = st.one_of(st.sampled_from(MESSY), st.sampled_from(LABELS),
                  st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
                  st.lists(st.sampled_from(MESSY), max_size=6).map("".join))


@st.composite
def tables(draw, clean: bool = False) -> tuple[list[str], list[list[str]]]:
    """A header and rows. Clean tables have distinct names and a non-blank first cell."""
    extra = draw(st.lists(NAMES, max_size=3))
    header = ["text", "label", *extra]
    if clean:
        header = list(dict.fromkeys(header))
    else:
        header = draw(st.permutations(header))
        if draw(st.integers(0, 3)) == 0:
            header.insert(draw(st.integers(0, len(header))), draw(st.sampled_from(["", "text"])))
    width = len(header)
    row = st.lists(cells, min_size=width, max_size=width)
    rows = draw(st.lists(row, max_size=8))
    if clean:
        rows = [[r[0] if r[0].strip() else "x", *r[1:]] for r in rows]
    elif rows and draw(st.integers(0, 9)) == 0:  # one huge field
        rows[0][0] = "x" * 200_000  # past the csv module's default limit of 128 KiB
    return header, rows


def write_jsonl(header: list[str], rows: list[list[str]], ending: str) -> str:
    return "".join(json.dumps(dict(zip(header, r, strict=True)), ensure_ascii=False) + ending
                   for r in rows)


def write_delimited(header: list[str], rows: list[list[str]], delimiter: str, quoting: int,
                    ending: str, sep_line: bool) -> str:
    out = io.StringIO()
    if sep_line:
        out.write(f"sep={delimiter}{ending}")
    if any("\r" in c or "\n" in c for r in [header, *rows] for c in r):
        quoting = csv.QUOTE_ALL  # as spreadsheets do; Python quotes only its own line ending
    writer = csv.writer(out, delimiter=delimiter, quoting=quoting, lineterminator=ending)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


COMPRESS = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}
SUFFIX = {"gzip": ".gz", "bzip2": ".bz2", "xz": ".xz"}
UNICODE = ["utf-8", "utf-8-sig", "utf-16", "utf-32"]
QUOTING = [csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]
ENDINGS = ["\n", "\r\n", "\r"]


@st.composite
def spreadsheet_files(draw) -> tuple[str, bytes, list[dict[str, str]]]:
    """(file name, bytes, the rows it holds): a clean table saved as a spreadsheet program or a
    script would, in a Unicode encoding, maybe compressed under a plain name."""
    header, rows = draw(tables(clean=True))
    kind = draw(st.sampled_from(["jsonl", "csv", "tsv"]))
    if kind == "jsonl":
        text = write_jsonl(header, rows, draw(st.sampled_from(["\n", "\r\n"])))
        name = draw(st.sampled_from(["d.jsonl", "d.ndjson", "D.JSONL"]))
    else:
        delimiter = "\t" if kind == "tsv" else draw(st.sampled_from([",", ";", "\t", "|"]))
        text = write_delimited(header, rows, delimiter, draw(st.sampled_from(QUOTING)),
                               draw(st.sampled_from(ENDINGS)),
                               sep_line=kind == "csv" and draw(st.booleans()))
        name = "d.tsv" if kind == "tsv" else draw(st.sampled_from(["d.csv", "D.CSV"]))
    data = text.encode(draw(st.sampled_from(UNICODE)))
    packed = draw(st.sampled_from([None, *COMPRESS]))
    if packed:
        data = COMPRESS[packed](data)
        name += draw(st.sampled_from(["", SUFFIX[packed]]))
    expected = [dict(zip(header, r, strict=True)) for r in rows
                if any(c.strip() for c in r) or kind == "jsonl"]
    return name, data, expected


TOKENS = [b"\n", b"\r", b"\r\n", b'"', b",", b";", b"\t", b"\x00", b"\xff", b"\xc3(",
          b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x1f\x8b", b"BZh9",
          b"\xfd7zXZ\x00", b"PK\x03\x04", b"sep=|\n", b"{", b"}", b"[", b"\\u0000", b"\\ud800",
          b"1" * 5000, b"[" * 3000]


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """`data` with 1-4 bytes flipped, tokens inserted, slices deleted or the end cut off."""
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "insert", "delete", "cut"]))
        if op == "flip" and at < len(data):
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
        elif op == "insert":
            data = data[:at] + draw(st.sampled_from(TOKENS)) + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 16)):]
        elif op == "cut":
            data = data[:at]
    return data


@st.composite
def data_files(draw) -> tuple[str, bytes]:
    """(file name, bytes): any table in any encoding, compression and name, often mutated;
    or raw bytes."""
    name_stem = draw(st.sampled_from(["d.jsonl", "d.json", "d.csv", "d.tsv", "D.CSV"]))
    if draw(st.integers(0, 5)) == 0:
        data = draw(st.binary(max_size=200))
    else:
        header, rows = draw(tables())
        ending = draw(st.sampled_from(ENDINGS))
        if name_stem.lower().endswith((".jsonl", ".json")) and draw(st.integers(0, 3)):
            text = write_jsonl(header, rows, ending)
        else:
            text = write_delimited(header, rows, draw(st.sampled_from([",", ";", "\t", "|"])),
                                   draw(st.sampled_from(QUOTING)), ending,
                                   sep_line=draw(st.integers(0, 4)) == 0)
        encoding = draw(st.sampled_from([*UNICODE, "utf-16-le", "utf-16-be", "cp1252"]))
        data = text.encode(encoding, "replace")
        if draw(st.integers(0, 2)) == 0:
            data = draw(mutated(data))
    packed = draw(st.sampled_from([None, None, *COMPRESS]))
    if packed:
        data = COMPRESS[packed](data)
        if draw(st.integers(0, 2)) == 0:
            data = draw(mutated(data))
    name = name_stem + draw(st.sampled_from(["", "", ".gz", ".bz2", ".xz"]))
    return name, data


# ── the properties ───────────────────────────────────────────────────────────────────────────


def located(err: DataError, shown: str) -> None:
    """A DataError names the data file and a line (0: the file as a whole)."""
    assert err.file == shown, err
    assert isinstance(err.line, int) and err.line >= 0, err
    assert str(err).startswith(f"{shown}:") and " data error: " in str(err), err
    assert "Traceback" not in str(err) and err.kind, err


def read(path: Path, skip: bool) -> tuple[list[Row], list[DataError], DataError | None]:
    """Rows, bad rows read past (under skip) and the error that stopped reading, if any."""
    rows: list[Row] = []
    bad: list[DataError] = []
    try:
        for row in iter_rows(path, str(path), on_bad_line=bad.append if skip else None):
            rows.append(row)
    except DataError as err:
        located(err, str(path))
        return rows, bad, err
    return rows, bad, None


def check_reader(path: Path) -> list[Row]:
    """Both policies: rows in order with string keys, bad rows and stops located."""
    for skip in (False, True):
        rows, bad, stop = read(path, skip)
        for err in bad:
            located(err, str(path))
        lines = [r.line for r in rows]
        assert all(line >= 1 for line in lines) and lines == sorted(set(lines)), lines
        assert all(isinstance(k, str) for r in rows for k in r.values), rows[:3]
        if not skip:
            ok = rows
    return ok


def check_validate_and_training(name: str, policy: str) -> str:
    """`validate` on a recipe reading the file, then the trainer's examples loader."""
    recipe = folder() / f"recipe-{policy}.yaml"
    recipe.write_text(RECIPE.format(name=name, policy=policy))
    data = folder() / name
    try:
        load_recipe(recipe, check_data=True)
        outcome = "valid"
    except RecipeError as err:
        outcome = "invalid"
        assert err.problems, "a RecipeError with no problem"
        for problem in err.problems:
            assert problem.loc is not None and problem.loc.file == str(recipe), problem.render()
            assert problem.loc.line >= 1 and problem.loc.col >= 1, problem.render()
            assert "Traceback" not in problem.render()
    loaded = load_recipe(recipe, check_data=False)
    try:
        splits = load_splits(loaded)
    except DataError as err:
        located(err, str(data))
        return outcome
    assert splits.train or splits.dev
    for ex in splits.train:
        assert ex.file == str(data) and ex.line >= 1 and ex.targets["cls"] in (0, 1)
        ex.inputs["text"].encode("utf-8")  # text a tokenizer can take (no lone surrogate)
    return outcome


def check_file(name: str, raw: bytes) -> Any:
    """Write the file and check every property; returns the strict-policy rows."""
    for old in folder().glob("d.*"):
        old.unlink()
    for old in folder().glob("D.*"):
        old.unlink()
    path = folder() / name
    path.write_bytes(raw)
    rows = check_reader(path)
    for policy in ("error", "skip"):
        check_validate_and_training(name, policy)
    return rows
