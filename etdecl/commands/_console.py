"""Consoles shared by the command modules (stdout for results, stderr for problems)."""

from __future__ import annotations

from ..consoles import make_console, say

out = make_console()
err = make_console(stderr=True)


def print_problems(error: Exception) -> None:
    say(str(error), stderr=True)
