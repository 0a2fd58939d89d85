"""Row readers for JSONL, CSV and TSV (plain or .gz/.bz2/.xz); every row knows its file and line.

Pure Python on purpose: `etdecl validate` peeks at data files to check field names, and must
never import torch.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

csv.field_size_limit(1 << 28)


class DataError(Exception):
    """A bad data file or row, located by file and line.

    `kind` is a short, value-free reason ("invalid UTF-8", "missing field 'label'") under which
    `on_bad_row: skip` counts skipped rows.
    """

    def __init__(self, file: str, line: int, message: str, kind: str | None = None):
        self.file, self.line, self.message = file, line, message
        self.kind = kind or message.split(":")[0].split(" (")[0]
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: data error: {self.message}"


@dataclass(frozen=True)
class Row:
    values: dict[str, Any]
    file: str
    line: int


BadLine = Callable[[DataError], None]
"""Called with each bad row a reader can read past (bad encoding, bad JSON, wrong column count);
without it, the reader raises."""


def _bad(err: DataError, on_bad_line: BadLine | None) -> None:
    if on_bad_line is None:
        raise err
    on_bad_line(err)


_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def detect_format(name: str, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    stem = name
    for ext in _OPENERS:
        stem = stem.removesuffix(ext)
    for fmt, exts in {
        "jsonl": (".jsonl", ".ndjson", ".json"),
        "csv": (".csv",),
        "tsv": (".tsv", ".tab"),
    }.items():
        if stem.endswith(exts):
            return fmt
    raise DataError(
        name, 0, "cannot tell the format from the file name; set `format:` to jsonl, csv or tsv"
    )


def _open_binary(path: Path) -> IO[bytes]:
    opener = _OPENERS.get(path.suffix)
    return opener(path, "rb") if opener else open(path, "rb")  # type: ignore[operator]


JSONL_EXPECTED = "JSON Lines (one JSON object per line) is expected"


def _not_jsonl(shown: str, what: str) -> DataError:
    """A whole file that is not JSON Lines: a format mistake, never a row to skip."""
    note = " (a .json file is read as JSON Lines)" if shown.endswith(".json") else ""
    return DataError(shown, 1, f"not JSON Lines: {what}; {JSONL_EXPECTED}{note}",
                     "not JSON Lines")


def _jsonl_rows(path: Path, shown: str, on_bad_line: BadLine | None = None) -> Iterator[Row]:
    seen_any = False
    with _open_binary(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                seen_any = True
                _bad(DataError(
                    shown,
                    lineno,
                    f"invalid UTF-8 at byte {err.start} of the line (0x{raw[err.start]:02x})",
                    "invalid UTF-8",
                ), on_bad_line)
                continue
            if not text.strip():
                continue
            first = not seen_any
            seen_any = True
            if first and text.strip() in ("[", "{"):
                raise _not_jsonl(shown, "the file is one JSON document spread over lines")
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as err:
                if first and text.lstrip().startswith("["):
                    raise _not_jsonl(shown, "the file starts a JSON array") from None
                truncated = not raw.endswith(b"\n")
                why = "truncated last line" if truncated else "invalid JSON"
                _bad(DataError(shown, lineno, f"{why}: {err.msg} at column {err.colno}; "
                               f"{JSONL_EXPECTED}", why), on_bad_line)
                continue
            if first and isinstance(obj, list):
                raise _not_jsonl(shown, "the file holds a JSON array")
            if not isinstance(obj, dict):
                _bad(DataError(
                    shown, lineno, f"expected a JSON object, found {type(obj).__name__}; "
                    f"{JSONL_EXPECTED}", "not a JSON object",
                ), on_bad_line)
                continue
            yield Row(obj, shown, lineno)
    if not seen_any:
        raise DataError(shown, 0, "data file is empty")


def _delimited_rows(
    path: Path, shown: str, delimiter: str, on_bad_line: BadLine | None = None
) -> Iterator[Row]:
    kind = "TSV" if delimiter == chr(9) else "CSV"
    with _open_binary(path) as fb:
        # Undecodable bytes become lone surrogates, so one bad row does not end the file;
        # each row is checked below and reported (or skipped) on its own line.
        fh = io.TextIOWrapper(fb, encoding="utf-8", errors="surrogateescape", newline="")
        lines = _Lines(fh)
        reader = csv.reader(lines, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise DataError(shown, 0, "data file is empty")
        if _undecodable(header):
            raise DataError(shown, 1, "invalid UTF-8 in the header")
        if len(set(header)) != len(header):
            raise DataError(shown, 1, "duplicate column names in the header")
        line = reader.line_num
        while True:
            start = line + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as err:  # the reader cannot go on after this
                _bad(DataError(shown, reader.line_num, f"malformed {kind}: {err}",
                               f"malformed {kind}"), on_bad_line)
                break
            line = reader.line_num
            if not record:
                continue
            if _undecodable(record):
                _bad(DataError(shown, start, "invalid UTF-8", "invalid UTF-8"), on_bad_line)
                continue
            if len(record) != len(header):
                # only a file's last line can end without a line break
                cut = not lines.last.endswith(("\n", "\r"))
                why = "truncated last line" if cut else "wrong number of columns"
                _bad(DataError(
                    shown,
                    start,
                    f"{'truncated last line: ' if cut else ''}expected {len(header)} columns, "
                    f"found {len(record)} (a truncated or unquoted line?)",
                    why,
                ), on_bad_line)
                continue
            yield Row(dict(zip(header, record, strict=True)), shown, start)


class _Lines:
    """The lines of a text stream, remembering the last one handed out."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh, self.last = fh, ""

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.fh.readline()
        if not line:
            raise StopIteration
        self.last = line
        return line


def _undecodable(fields: list[str]) -> bool:
    return any("\udc80" <= ch <= "\udcff" for f in fields for ch in f)


def iter_rows(
    path: Path, shown: str | None = None, fmt: str = "auto", on_bad_line: BadLine | None = None
) -> Iterator[Row]:
    """Rows of a data file, in order. Raises DataError naming the file and line; with
    `on_bad_line`, rows that can be read past are handed to it instead and reading goes on."""
    shown = shown or str(path)
    if not path.is_file():
        raise DataError(shown, 0, "data file not found")
    fmt = detect_format(path.name, fmt)
    if fmt == "jsonl":
        return _jsonl_rows(path, shown, on_bad_line)
    return _delimited_rows(path, shown, "," if fmt == "csv" else "\t", on_bad_line)


def peek_rows(
    path: Path, shown: str, fmt: str = "auto", n: int = 5, on_bad_line: BadLine | None = None
) -> list[Row]:
    """The first n rows (for validation's field checks)."""
    out = []
    for row in iter_rows(path, shown, fmt, on_bad_line):
        out.append(row)
        if len(out) >= n:
            break
    return out
