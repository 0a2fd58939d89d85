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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

csv.field_size_limit(1 << 28)


class DataError(Exception):
    """A bad data file or row, located by file and line."""

    def __init__(self, file: str, line: int, message: str):
        self.file, self.line, self.message = file, line, message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: data error: {self.message}"


@dataclass(frozen=True)
class Row:
    values: dict[str, Any]
    file: str
    line: int


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


def _jsonl_rows(path: Path, shown: str) -> Iterator[Row]:
    seen_any = False
    with _open_binary(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(
                    shown,
                    lineno,
                    f"invalid UTF-8 at byte {err.start} of the line (0x{raw[err.start]:02x})",
                ) from None
            if not text.strip():
                continue
            seen_any = True
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as err:
                truncated = not raw.endswith(b"\n")
                why = "truncated last line" if truncated else "invalid JSON"
                raise DataError(shown, lineno, f"{why}: {err.msg} at column {err.colno}") from None
            if not isinstance(obj, dict):
                raise DataError(
                    shown, lineno, f"expected a JSON object, found {type(obj).__name__}"
                )
            yield Row(obj, shown, lineno)
    if not seen_any:
        raise DataError(shown, 0, "data file is empty")


def _delimited_rows(path: Path, shown: str, delimiter: str) -> Iterator[Row]:
    with _open_binary(path) as fb:
        fh = io.TextIOWrapper(fb, encoding="utf-8", errors="strict", newline="")
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader, None)
        except UnicodeDecodeError:
            raise DataError(shown, 1, "invalid UTF-8 in the header") from None
        if header is None:
            raise DataError(shown, 0, "data file is empty")
        if len(set(header)) != len(header):
            raise DataError(shown, 1, "duplicate column names in the header")
        line = reader.line_num
        while True:
            start = line + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            except UnicodeDecodeError:
                raise DataError(shown, line + 1, "invalid UTF-8") from None
            except csv.Error as err:
                raise DataError(
                    shown,
                    reader.line_num,
                    f"malformed {'TSV' if delimiter == chr(9) else 'CSV'}: {err}",
                ) from None
            line = reader.line_num
            if not record:
                continue
            if len(record) != len(header):
                raise DataError(
                    shown,
                    start,
                    f"expected {len(header)} columns, found "
                    f"{len(record)} (a truncated or unquoted line?)",
                )
            yield Row(dict(zip(header, record, strict=True)), shown, start)


def iter_rows(path: Path, shown: str | None = None, fmt: str = "auto") -> Iterator[Row]:
    """Rows of a data file, in order. Raises DataError naming the file and line."""
    shown = shown or str(path)
    if not path.is_file():
        raise DataError(shown, 0, "data file not found")
    fmt = detect_format(path.name, fmt)
    if fmt == "jsonl":
        return _jsonl_rows(path, shown)
    return _delimited_rows(path, shown, "," if fmt == "csv" else "\t")


def peek_rows(path: Path, shown: str, fmt: str = "auto", n: int = 5) -> list[Row]:
    """The first n rows (for validation's field checks)."""
    out = []
    for row in iter_rows(path, shown, fmt):
        out.append(row)
        if len(out) >= n:
            break
    return out
