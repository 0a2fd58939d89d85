"""Reading a run's JSON-lines files so that a bad line is named by file and line.

A run still being written may end in a line cut short (the writer is mid-line, or the process
was killed); that last, unterminated line is passed over with a warning instead of failing the
whole report. Any other line that is not a JSON object is an error naming `file:line`.

Selection logs are read as `engine/selectors/records.read_log` reads them (every non-blank line
one record; a test holds the two to the same result) but without importing it: the selectors
package imports torch, and reading a run needs none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class ReportError(Exception):
    """A run directory or one of its files that cannot be reported on; one line, said as is."""


Located = tuple[int, dict[str, Any]]
"""(1-based line number, record)."""


def _parse(path: Path, text: str) -> tuple[list[Located], list[str]]:
    lines = text.split("\n")
    out: list[Located] = []
    warnings: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if number == len(lines):  # no newline after it: still being written
                warnings.append(f"{path}:{number}: last line is cut short; passed over")
                continue
            raise ReportError(f"{path}:{number}: not valid JSON ({e.msg} at column {e.colno})"
                              ) from None
        if not isinstance(record, dict):
            raise ReportError(f"{path}:{number}: expected a JSON object, got "
                              f"{type(record).__name__}")
        out.append((number, record))
    return out, warnings


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: cannot be read ({e})") from None


def read_jsonl(path: Path) -> tuple[list[Located], list[str]]:
    """The records of a JSON-lines file with their line numbers, and warnings."""
    return _parse(path, _read_text(path))


def read_selection_log(path: Path) -> tuple[list[Located], list[str]]:
    """A selector's log (`RUN_DIR/selection/<name>.jsonl`): one record per episode."""
    return read_jsonl(path)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file (result.json), or None when absent."""
    if not path.is_file():
        return None
    try:
        value = json.loads(_read_text(path))
    except ValueError as e:
        raise ReportError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise ReportError(f"{path}: expected a JSON object")
    return value
