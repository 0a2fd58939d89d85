"""Row readers for JSONL, CSV and TSV (plain, gzip, bzip2 or xz, told by their bytes); every row
knows its file and line, and every problem is a DataError naming both.

Files arrive as spreadsheet programs and scripts write them: with byte-order marks, in UTF-16,
`;`-separated, with a `sep=;` line, with blank trailing columns. Those are read as meant; what
cannot be read says why (encoding, delimiter, compression). tests/sharing/test_fuzz_data.py
fuzzes this module.

Pure Python on purpose: `etdecl validate` peeks at data files to check field names, and must
never import torch.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import DataError
from .sniff import STREAM_ERRORS, SUFFIXES, Opened, broken_stream, encoding_hint, open_data

__all__ = ["BadLine", "DataError", "Row", "detect_format", "iter_rows", "peek_rows"]

csv.field_size_limit(1 << 28)


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


def detect_format(name: str, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    stem = name.lower()
    for ext in SUFFIXES:
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


class _Lines:
    """The lines of a text stream, counting them and remembering the last one handed out."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh, self.last, self.count = fh, "", 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.fh.readline()
        if not line:
            raise StopIteration
        self.last = line
        self.count += 1
        return line


def _text(opened: Opened, newline: str) -> IO[str]:
    # UTF-8: undecodable bytes become lone surrogates, so one bad row does not end the file;
    # each row is checked and reported (or skipped) on its own line. UTF-16/32 files are
    # decoded strictly: a decoding error there ends the file (see iter_rows).
    lenient = opened.encoding.startswith("utf-8")
    return io.TextIOWrapper(opened.stream, encoding=opened.encoding, newline=newline,
                            errors="surrogateescape" if lenient else "strict")


def _undecodable(fields: list[str]) -> bool:
    return any("\udc80" <= ch <= "\udcff" for f in fields for ch in f)


def _raw(fields: list[str]) -> bytes:
    return "".join(fields).encode("utf-8", "surrogateescape")


# ── JSONL ────────────────────────────────────────────────────────────────────────────────────


def _json_lines(opened: Opened) -> Iterator[tuple[int, str | None, bytes]]:
    """(line number, text or None when not UTF-8, raw bytes) of each line."""
    if opened.encoding.startswith("utf-8"):
        for lineno, raw in enumerate(opened.stream, start=1):
            if lineno == 1 and opened.encoding == "utf-8-sig":
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            try:
                yield lineno, raw.decode("utf-8"), raw
            except UnicodeDecodeError:
                yield lineno, None, raw
        return
    lines = _Lines(_text(opened, "\n"))
    for text in lines:
        yield lines.count, text, b""


JSONL_EXPECTED = "JSON Lines (one JSON object per line) is expected"


def _not_jsonl(shown: str, what: str) -> DataError:
    """A whole file that is not JSON Lines: a format mistake, never a row to skip."""
    note = " (a .json file is read as JSON Lines)" if shown.endswith(".json") else ""
    return DataError(shown, 1, f"not JSON Lines: {what}; {JSONL_EXPECTED}{note}",
                     "not JSON Lines")


def _jsonl_rows(opened: Opened, shown: str, on_bad_line: BadLine | None,
                at: list[int]) -> Iterator[Row]:
    seen_any = False
    for lineno, text, raw in _json_lines(opened):
        at[0] = lineno
        if text is None:
            seen_any = True
            err = raw.decode("utf-8", "replace")  # only to find where
            start = next((i for i, ch in enumerate(err) if ch == "\ufffd"), 0)
            byte = len(err[:start].encode("utf-8"))
            _bad(DataError(
                shown, lineno,
                f"invalid UTF-8 at byte {byte} of the line (0x{raw[byte]:02x}); "
                f"{encoding_hint(raw)}",
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
            cut = not text.endswith("\n")
            why = "truncated last line" if cut else "invalid JSON"
            _bad(DataError(shown, lineno, f"{why}: {err.msg} at column {err.colno}; "
                           f"{JSONL_EXPECTED}", why), on_bad_line)
            continue
        except (RecursionError, ValueError) as err:  # deep nesting; a 5,000-digit number
            why = ("nested too deeply" if isinstance(err, RecursionError)
                   else "a number too long to read")
            _bad(DataError(shown, lineno, f"invalid JSON: {why}", "invalid JSON"), on_bad_line)
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


# ── CSV and TSV ──────────────────────────────────────────────────────────────────────────────

_SEP_LINE = re.compile(r"sep=(.)\r?\n?")
"""Excel's first line naming the delimiter, `sep=;`."""
_DELIMITERS = (",", ";", "\t", "|")


def _fields(line: str, delimiter: str) -> int:
    try:
        return len(next(csv.reader([line], delimiter=delimiter), []))
    except csv.Error:
        return 0


def _pick_delimiter(header: str, default: str) -> str:
    """The delimiter that splits the header line into the most columns; the format's own on a
    tie. Spreadsheets save `.csv` with `;` where the decimal mark is a comma."""
    counts = {d: _fields(header, d) for d in _DELIMITERS}
    return max(_DELIMITERS, key=lambda d: (counts[d], d == default))


def _columns(header: list[str], shown: str, line: int) -> list[str | None]:
    """Column names, None for a blank one (spreadsheets write blank trailing columns)."""
    names: list[str | None] = [h if h.strip() else None for h in header]
    if not any(names):
        raise DataError(shown, line, "the header has no column names")
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if name is None:
            continue
        if name in seen:
            raise DataError(shown, line, f"duplicate column name '{name}' in the header "
                            f"(columns {seen[name]} and {i})", "duplicate column names")
        seen[name] = i
    return names


def _delimited_rows(opened: Opened, shown: str, default: str, on_bad_line: BadLine | None,
                    at: list[int]) -> Iterator[Row]:
    lines = _Lines(_text(opened, ""))
    first = next((ln for ln in lines if ln.strip()), None)
    delimiter = None
    if first is not None and (sep := _SEP_LINE.fullmatch(first)):
        delimiter = sep.group(1)
        first = next((ln for ln in lines if ln.strip()), None)
    at[0] = lines.count
    if first is None:
        raise DataError(shown, 0, "data file is empty")
    delimiter = delimiter or _pick_delimiter(first, default)
    kind = "TSV" if default == "\t" else "CSV"
    reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter)
    header_line = lines.count
    try:
        header = next(reader)
    except csv.Error as err:
        raise DataError(shown, header_line, f"malformed {kind} header: {err}",
                        f"malformed {kind}") from None
    if _undecodable(header):
        raise DataError(shown, header_line,
                        f"invalid UTF-8 in the header; {encoding_hint(_raw(header))}",
                        "invalid UTF-8")
    names = _columns(header, shown, header_line)
    n = len(names)
    line = at[0] = lines.count
    while True:
        start = line + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as err:  # the reader cannot go on after this
            _bad(DataError(shown, lines.count, f"malformed {kind}: {err}", f"malformed {kind}"),
                 on_bad_line)
            break
        line = at[0] = lines.count
        if not any(cell.strip() for cell in record):  # a blank line, or a row of empty cells
            continue
        if _undecodable(record):
            _bad(DataError(shown, start, f"invalid UTF-8; {encoding_hint(_raw(record))}",
                           "invalid UTF-8"), on_bad_line)
            continue
        if len(record) > n and not any(record[n:]):  # empty cells past the last column
            record = record[:n]
        elif len(record) < n and not any(names[len(record):]):  # unnamed columns left out
            record = record + [""] * (n - len(record))
        if len(record) != n:
            # only a file's last line can end without a line break
            cut = not lines.last.endswith(("\n", "\r"))
            why = "truncated last line" if cut else "wrong number of columns"
            other = [d for d in _DELIMITERS if d != delimiter and len(record) == 1
                     and d in record[0]]
            hint = f"; is it separated by {_NAMES[other[0]]}, not {_NAMES[delimiter]}?" \
                if other and not cut else ""
            _bad(DataError(
                shown,
                start,
                f"{'truncated last line: ' if cut else ''}expected {n} columns, "
                f"found {len(record)} (a truncated or unquoted line?){hint}",
                why,
            ), on_bad_line)
            continue
        yield Row({k: v for k, v in zip(names, record, strict=True) if k is not None},
                  shown, start)


_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "bars"}


# ── entry points ─────────────────────────────────────────────────────────────────────────────


def _rows(path: Path, shown: str, fmt: str, on_bad_line: BadLine | None) -> Iterator[Row]:
    opened = open_data(path, shown)
    at = [0]  # the last line read, for errors raised by the stream itself
    with opened.stream:
        try:
            if fmt == "jsonl":
                yield from _jsonl_rows(opened, shown, on_bad_line, at)
            else:
                yield from _delimited_rows(opened, shown, "," if fmt == "csv" else "\t",
                                           on_bad_line, at)
        except UnicodeDecodeError as err:  # UTF-16/32, decoded strictly
            raise DataError(shown, at[0] + 1, f"invalid {opened.encoding.upper()} text "
                            f"({err.reason}); the byte-order mark or zero bytes at the start "
                            "say it is UTF-16/32, but it does not decode as such",
                            "invalid encoding") from None
        except STREAM_ERRORS as err:
            raise broken_stream(shown, at[0] + 1, opened.compression, err) from None


def iter_rows(
    path: Path, shown: str | None = None, fmt: str = "auto", on_bad_line: BadLine | None = None
) -> Iterator[Row]:
    """Rows of a data file, in order. Raises DataError naming the file and line; with
    `on_bad_line`, rows that can be read past are handed to it instead and reading goes on."""
    shown = shown or str(path)
    if not path.is_file():
        raise DataError(shown, 0, "data file not found")
    fmt = detect_format(path.name, fmt)
    return _rows(path, shown, fmt, on_bad_line)


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
