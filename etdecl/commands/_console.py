"""Consoles shared by the command modules (stdout for results, stderr for problems).

`out` and `err` are made on first use (rich is imported then), so verbs that only `say` never
import rich."""

from __future__ import annotations

from typing import Any

from ..consoles import make_console, say  # noqa: F401  (say: re-exported)


def __getattr__(name: str) -> Any:
    if name not in ("out", "err"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    console = globals()[name] = make_console(stderr=name == "err")
    return console


def print_problems(error: Exception) -> None:
    say(str(error), stderr=True)
