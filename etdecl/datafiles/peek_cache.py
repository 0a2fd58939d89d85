"""The first rows of a data file, read once per process however many recipes peek at them.

`etdecl validate recipes/` checks each recipe's fields and labels against its data files' first
rows; a CI folder holds dozens of recipes sharing a few files (a bzip2 file costs tens of
milliseconds just to open). An entry is keyed by the file's resolved path, size and
modification time, so a file changed during the run is read again; a read that failed is
remembered as the error it raised, and the bad rows a lenient read passed over are replayed to
the next caller's `on_bad_line`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError
from .readers import BadLine, Row, peek_rows


@dataclass(frozen=True)
class _Peeked:
    rows: tuple[Row, ...]
    bad: tuple[DataError, ...]
    error: DataError | None


_CACHE: dict[tuple, _Peeked] = {}


def _key(path: Path, shown: str, fmt: str, n: int) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns, shown, fmt, n)


def peek_rows_once(path: Path, shown: str, fmt: str = "auto", n: int = 5,
                   on_bad_line: BadLine | None = None) -> list[Row]:
    """`readers.peek_rows`, answered from this process's cache when the file is unchanged.

    One lenient read serves both kinds of caller: without `on_bad_line` the reader would have
    stopped at the first bad row, so that row's error is raised; with it, every bad row the
    read passed over is handed on."""
    key = _key(path, shown, fmt, n)
    if key is None:  # cannot stat it: let the reader say why
        return peek_rows(path, shown, fmt, n, on_bad_line)
    hit = _CACHE.get(key)
    if hit is None:
        bad: list[DataError] = []
        try:
            hit = _Peeked(tuple(peek_rows(path, shown, fmt, n, bad.append)), tuple(bad), None)
        except DataError as err:
            hit = _Peeked((), tuple(bad), err)
        _CACHE[key] = hit
    if on_bad_line is None and hit.bad:
        raise hit.bad[0]
    for err in hit.bad if on_bad_line is not None else ():
        on_bad_line(err)
    if hit.error is not None:
        raise hit.error
    return list(hit.rows)


def clear() -> None:
    """Forget every file read (for long-lived processes and tests)."""
    _CACHE.clear()
