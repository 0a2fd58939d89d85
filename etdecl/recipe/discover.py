"""Which files `etdecl validate DIR` checks: the recipes in it, not every YAML file.

Run at a repository's root, a folder walk meets GitHub workflows, `.pre-commit-config.yaml`,
compose files and the like. A YAML file found in a folder is a recipe when it says so: a
top-level `etdecl:` key, the recipe `$schema` header that editors read, or (a child recipe,
which may leave `etdecl:` to its parent) a top-level `extends:` key. Hidden files
(`.pre-commit-config.yaml`, `.eslintrc.yml`, whose `extends:` is not ours) and hidden folders
(`.github`, `.git`, `.venv`) are passed over, and so are partials (`_name.yaml`), checked
through the recipes that extend them. Files named on the command line are always checked
(pre-commit hands over exactly the files its pattern selected).
A symlink whose target is gone is reported under its own name, as what it is.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Location, Problem

YAML_SUFFIXES = (".yaml", ".yml")
PRUNED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})
"""Folders never walked, besides hidden ones (`.git`, `.github`, `.venv`, ...)."""
_RECIPE_KEY = re.compile(r"""^(["']?)(etdecl|extends)\1[ \t]*:""", re.MULTILINE)
_SCHEMA_HEADER = re.compile(r"^#\s*yaml-language-server:\s*\$schema=\S*recipe\.schema\.json\s*$",
                            re.MULTILINE)
_PEEK = 1 << 20


@dataclass
class Discovered:
    """What a validate run checks, what it passed over (shown with --verbose), and why."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    broken: dict[Path, Problem] = field(default_factory=dict)


def dangling_link(path: Path) -> Problem | None:
    """A located error for a symlink whose target does not exist, else None."""
    if not (path.is_symlink() and not path.exists()):
        return None
    target = os.readlink(path)
    return Problem("dangling symlink: its target does not exist", loc=Location(str(path)),
                   expected="a link to a recipe file", found=f"a link to {target}")


def recipe_marker(path: Path) -> str | None:
    """Why `path` counts as a recipe (`etdecl:` key or `$schema` header), else None."""
    try:
        with path.open("rb") as handle:
            text = handle.read(_PEEK).decode("utf-8", errors="replace")
    except OSError:
        return "unreadable"  # let the loader report it, located
    m = _RECIPE_KEY.search(text)
    if m:
        return f"{m.group(2)} key"
    if _SCHEMA_HEADER.search(text):
        return "$schema header"
    return None


def _walk(root: Path, found: Discovered) -> None:
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        for d in sorted(dirs):
            if d.startswith(".") or d in PRUNED_DIRS:
                found.skipped.append((here / d, "folder not searched"))
        dirs[:] = sorted(d for d in dirs if not (d.startswith(".") or d in PRUNED_DIRS))
        for name in sorted(names):
            path = here / name
            if not name.endswith(YAML_SUFFIXES):
                continue
            broken = dangling_link(path)
            if broken is not None:
                found.broken[path] = broken
            elif name.startswith("."):
                found.skipped.append((path, "hidden file"))
            elif name.startswith("_"):
                found.skipped.append((path, "partial, checked through the recipes extending it"))
            elif recipe_marker(path) is None:
                found.skipped.append((path, "not a recipe (no 'etdecl:' or 'extends:' key, "
                                            "no recipe $schema header)"))
            else:
                found.files.append(path)


def discover(paths: list[Path]) -> Discovered:
    """Recipes among `paths`: files as given, folders walked for files marked as recipes."""
    found = Discovered()
    for path in paths:
        broken = dangling_link(path)
        if broken is not None:
            found.broken[path] = broken
        elif path.is_dir():
            walked = Discovered()
            _walk(path, walked)
            found.files.extend(sorted(walked.files))  # the order of a sorted recursive glob
            found.skipped.extend(walked.skipped)
            found.broken.update(walked.broken)
        else:
            found.files.append(path)
    return found
