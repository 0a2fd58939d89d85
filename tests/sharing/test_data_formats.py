"""Data files as spreadsheet programs and scripts save them: each either reads as meant, or
`validate` and the reader stop with the file, the line and the cause (encoding, delimiter,
compression, not a text file)."""

from __future__ import annotations

import bz2
import codecs
import gzip
import json
import lzma
from pathlib import Path

import pytest
from fuzz_data import RECIPE, folder

from etdecl.data.examples import load_splits
from etdecl.datafiles.readers import DataError, iter_rows
from etdecl.recipe.errors import RecipeError
from etdecl.recipe.validate import load_recipe

TABLE = "text,label\nbon café,pos\nmauvais,neg\n"
ROWS = [{"text": "bon café", "label": "pos"}, {"text": "mauvais", "label": "neg"}]


def semi(text: str) -> str:
    return text.replace(",", ";")


WORKS = {  # name: (file name, bytes)
    "utf-8 with a byte-order mark (Excel 'CSV UTF-8')": ("d.csv", TABLE.encode("utf-8-sig")),
    "utf-16 with a byte-order mark, tabs (Excel 'Unicode Text')":
        ("d.tsv", TABLE.replace(",", "\t").encode("utf-16")),
    "utf-16-le without a byte-order mark": ("d.csv", TABLE.encode("utf-16-le")),
    "utf-16-be without a byte-order mark": ("d.csv", TABLE.encode("utf-16-be")),
    "utf-32": ("d.csv", TABLE.encode("utf-32")),
    "semicolons (a comma-decimal locale)": ("d.csv", semi(TABLE).encode()),
    "Excel's sep= line": ("d.csv", ("sep=;\r\n" + semi(TABLE)).encode()),
    "CRLF line endings": ("d.csv", TABLE.replace("\n", "\r\n").encode()),
    "CR line endings (old Mac)": ("d.csv", TABLE.replace("\n", "\r").encode()),
    "blank trailing columns and empty rows": (
        "d.csv", "text,label,,\nbon café,pos,,\n,,,\nmauvais,neg\n\n".encode()),
    "blank lines before the header": ("d.csv", ("\n\n" + TABLE).encode()),
    "an upper-case extension": ("D.CSV", TABLE.encode()),
    "gzip under a plain name": ("d.csv", gzip.compress(TABLE.encode())),
    "bzip2 under a plain name": ("d.csv", bz2.compress(TABLE.encode())),
    "xz under the wrong suffix": ("d.csv.gz", lzma.compress(TABLE.encode())),
    "plain text under a .gz name": ("d.csv.gz", TABLE.encode()),
    "JSONL with a byte-order mark": (
        "d.jsonl", codecs.BOM_UTF8 + '{"text": "bon café", "label": "pos"}\r\n'
        '{"text": "mauvais", "label": "neg"}\n'.encode()),
    "JSONL in UTF-16": ("d.jsonl", '{"text": "bon café", "label": "pos"}\n'
                        '{"text": "mauvais", "label": "neg"}\n'.encode("utf-16")),
}


def write(name: str, raw: bytes) -> Path:
    for old in [*folder().glob("d.*"), *folder().glob("D.*")]:
        old.unlink()
    path = folder() / name
    path.write_bytes(raw)
    return path


def validate(name: str) -> list[str]:
    recipe = folder() / "recipe.yaml"
    recipe.write_text(RECIPE.format(name=name, policy="error"))
    try:
        load_recipe(recipe)
    except RecipeError as err:
        return [p.render() for p in err.problems]
    return []


@pytest.mark.parametrize("case", list(WORKS), ids=list(WORKS))
def test_spreadsheet_files_read_as_meant(case: str) -> None:
    name, raw = WORKS[case]
    path = write(name, raw)
    assert [r.values for r in iter_rows(path)] == ROWS
    assert validate(name) == []


FAILS = {  # name: (file name, bytes, line, what the message must say)
    "Windows-1252 (Excel's plain 'CSV')": ("d.csv", TABLE.encode("cp1252"), 2,
                                           "not UTF-8 (a spreadsheet's plain 'CSV' export is "
                                           "often Windows-1252"),
    "Latin-1 in the header": ("d.csv", "téxt,label\na,pos\n".encode("latin-1"), 1,
                              "invalid UTF-8 in the header; the file is not UTF-8"),
    "Windows-1252 JSONL": ("d.jsonl", '{"text": "café", "label": "pos"}\n'.encode("cp1252"), 1,
                           "Windows-1252 or Latin-1"),
    "an .xlsx workbook saved as .csv": ("d.csv", b"PK\x03\x04\x14\x00\x06\x00" + bytes(40), 0,
                                        "ZIP archive (an Excel .xlsx"),
    "an .xls workbook saved as .csv": ("d.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(40),
                                       0, "Excel 97-2003 .xls workbook"),
    "a truncated .gz": ("d.csv.gz", gzip.compress(TABLE.encode())[:-4], 4,
                        "cannot read gzip-compressed data past this line: it ends too early"),
    "a corrupt .bz2": ("d.csv", b"BZh91AY&SY" + bytes(40), 1, "bzip2-compressed data"),
    "a JSON array in a .json file": ("d.json", b'[\n{"text": "a", "label": "pos"}\n]\n', 1,
                                     "not JSON Lines: the file is one JSON document spread "
                                     "over lines"),
    "duplicate header names": ("d.csv", b"text,label,text\na,pos,b\n", 1,
                               "duplicate column name 'text' in the header (columns 1 and 3)"),
    "semicolon rows under a comma header": ("d.csv", b"text,label\na;pos\n", 2,
                                            "separated by semicolons, not commas"),
    "UTF-16 that does not decode": ("d.csv", codecs.BOM_UTF16_LE + b"t\x00,\x00\x00\xd8", 1,
                                    "invalid UTF-16 text"),
    "JSON nested too deeply": ("d.jsonl", b"[" * 100_000 + b"\n", 1, "nested too deeply"),
    "a 5,000-digit number": ("d.jsonl", b'{"text": ' + b"1" * 5000 + b"}\n", 1,
                             "a number too long to read"),
}


@pytest.mark.parametrize("case", list(FAILS), ids=list(FAILS))
def test_unreadable_files_name_the_cause(case: str) -> None:
    name, raw, line, says = FAILS[case]
    path = write(name, raw)
    with pytest.raises(DataError) as info:
        list(iter_rows(path))
    assert (info.value.file, info.value.line) == (str(path), line)
    assert says in info.value.message
    [problem] = validate(name)
    where = f"{path}:{line}" if line else str(path)
    assert f"{where}: data error: " in problem and says in problem
    assert "recipe.yaml:4:" in problem  # located at the recipe's data.train


@pytest.mark.parametrize("field", ["text", "text_pair"])
def test_a_lone_surrogate_is_a_located_error_not_a_tokenizer_crash(field: str) -> None:
    """Valid JSON may escape half a surrogate pair ("\\ud800"); no tokenizer can take it, so the
    examples loader the trainer calls stops at its line (or counts it under skip)."""
    rows = [{"text": "good", "pair": "fine", "label": "pos"} for _ in range(3)]
    rows[1]["text" if field == "text" else "pair"] = "half \ud800 a pair"
    path = write("d.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    recipe = folder() / "recipe.yaml"
    text = RECIPE.format(name="d.jsonl", policy="error").replace("  dev: {path: dev.jsonl}\n", "")
    recipe.write_text(text.replace("label: label}", "label: label, text_pair: pair}"))
    loaded = load_recipe(recipe)
    with pytest.raises(DataError) as info:
        load_splits(loaded)
    assert (info.value.file, info.value.line) == (str(path), 2)
    assert "holds a lone surrogate (\\ud800), which is not text" in info.value.message
    skipped = load_recipe(recipe, ["data.on_bad_row=skip"])
    splits = load_splits(skipped)
    assert sum(splits.skipped.values()) == 1
