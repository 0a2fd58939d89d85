"""DataError: every problem with a data file, located by file and line."""

from __future__ import annotations


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
