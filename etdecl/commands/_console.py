"""Consoles shared by the command modules (stdout for results, stderr for problems)."""

from __future__ import annotations

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_problems(error: Exception) -> None:
    err.print(str(error), markup=False)
