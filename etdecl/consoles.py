"""Where etdecl writes: verbatim text for anything that may hold user values, rich for tables.

Rich rewrites text by default (`:fire:` becomes an emoji, `[bold]` is read as markup, tabs are
expanded, control characters dropped), which must never happen to a recipe value. So plain
messages go straight to the stream with `say`, and the consoles that draw tables and trees
have emoji, markup and highlighting off; tables are built from `rich.text.Text` cells.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

PIPED_WIDTH = 120
"""Width for tables when output is a file or a pipe and COLUMNS is not set (rich's default
there is 80, which forces the narrow layouts on output nobody reads in a terminal)."""


@cache
def _console_class() -> type[Console]:
    """Rich's console with PIPED_WIDTH for non-terminals, decided at each print (the stream
    and COLUMNS may change after the console is made, as under test runners). Made on first
    use: rich is imported only by commands that draw tables, not by `validate` or `--help`."""
    from rich.console import Console, ConsoleDimensions

    class _Console(Console):
        @property
        def size(self) -> ConsoleDimensions:
            size = super().size
            if self._width is None and not self.is_terminal and not os.environ.get("COLUMNS"):
                return ConsoleDimensions(PIPED_WIDTH, size.height)
            return size

        @size.setter
        def size(self, new_size: tuple[int, int]) -> None:
            Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    return _Console


def make_console(stderr: bool = False, file: IO[str] | None = None,
                 width: int | None = None) -> Console:
    """A console that prints user text as written: no emoji codes, markup or highlighting."""
    return _console_class()(stderr=stderr, file=file, width=width, emoji=False, markup=False,
                            highlight=False, soft_wrap=True)


def say(text: str, stderr: bool = False, end: str = "\n") -> None:
    """Write text exactly as given (the stream is looked up now, so test runners can swap it)."""
    stream = sys.stderr if stderr else sys.stdout
    stream.write(text + end)
    stream.flush()
