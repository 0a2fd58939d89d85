"""Tables for `plan` and the run summary that never cut a value short.

Rich fits a table to the console by cutting cells to "…", which loses digits of parameter
counts, memory figures and fingerprints at 80 columns. Here every cell is a `Text` (no markup
or emoji read into user names), numbers never wrap, long free text folds, and a table too wide
for the console is turned on its side (one column per row) in as many blocks as it takes.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

_UNBOUNDED = 100_000


def natural_width(console: Console, table: Table) -> int:
    """Columns the table takes when nothing is wrapped or cut."""
    options = console.options.update_width(_UNBOUNDED)
    return Measurement.get(console, options, table).maximum


def key_value_table(console: Console, title: str | None,
                    rows: Sequence[tuple[str, str]]) -> Table:
    """Name/value pairs without borders, side by side when the longest word of a value (a
    fingerprint, a count) fits beside the names; else each value on its own line under its
    name. Paths may fold at any width: they are not read as one number."""
    key_width = max((len(k) for k, _ in rows), default=0) + 2
    words = [w for _, v in rows for w in v.split() if "/" not in w]
    longest = max((len(w) for w in words), default=0)
    table = Table(title=title, title_justify="left", show_header=False, box=None,
                  pad_edge=False, padding=(0, 2, 0, 0))
    if key_width + longest <= console.width:
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for key, value in rows:
            table.add_row(Text(key), Text(value))
        return table
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(Text(key, style="bold"))
        table.add_row(Text("  " + value))
    return table


def _wide(title: str | None, headers: Sequence[str], rows: Sequence[Sequence[str]],
          left: set[int]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(Text(header), justify="left" if i in left else "right", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _on_its_side(title: str | None, headers: Sequence[str],
                 rows: Sequence[Sequence[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(Text(""), style="bold", no_wrap=True)
    for row in rows:
        table.add_column(Text(f"{headers[0]} {row[0]}"), justify="right", no_wrap=True)
    for i, header in enumerate(headers[1:], start=1):
        table.add_row(Text(header.replace("\n", " ")), *(Text(row[i]) for row in rows))
    return table


def fitted_tables(console: Console, title: str | None, headers: Sequence[str],
                  rows: Sequence[Sequence[str]], left: set[int] | None = None) -> list[Table]:
    """The table as one when it fits the console; else on its side, split into blocks that
    fit. The first column names each row (`rank 0`, `rank 1`, ...) in the turned layout.
    Headers may hold a line break (`params\nMiB`) to keep number columns narrow."""
    left = left or set()
    wide = _wide(title, headers, rows, left)
    if natural_width(console, wide) <= console.width or not rows:
        return [wide]
    blocks: list[Table] = []
    start = 0
    while start < len(rows):
        end = start + 1
        while end < len(rows) and natural_width(
                console, _on_its_side(None, headers, rows[start:end + 1])) <= console.width:
            end += 1
        blocks.append(_on_its_side(title if not blocks else None, headers, rows[start:end]))
        start = end
    return blocks
