"""Empty values and keys at the wrong depth.

`data:` followed by `train:` at the same indentation is the commonest YAML slip: `data` becomes
null and `train` a top-level key. Schema checking alone then reports a chain of unrelated errors
("data: expected a mapping", "train.path: unknown key"); here they become one problem that says
what happened: the keys meant for `data` are not indented under it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .errors import Problem

if TYPE_CHECKING:
    from .load import PathKey, Tree

NULL_WORDS = ("null", "Null", "NULL", "~")


def locate_empty_values(tree: Tree, text: str) -> None:
    """A key with nothing after it (`train:`) is null; ruamel places that null at the next
    token, often the next key. Locate it at the key itself, where the value is missing.

    After this, an empty value is recognisable in any merged tree: its value location is its
    key location (see `is_empty_value`).
    """
    lines = text.split("\n")
    for path, key_loc in tree.keys.items():
        value_loc = tree.values.get(path)
        if value_loc is None or not value_loc.line or value_at(tree.data, path) is not None:
            continue
        line = lines[value_loc.line - 1] if value_loc.line <= len(lines) else ""
        if not line[value_loc.col - 1:].startswith(NULL_WORDS):
            tree.values[path] = key_loc


def is_empty_value(tree: Tree, path: PathKey) -> bool:
    """True for a key written with no value at all (`data:`), as opposed to `data: null`."""
    path = tuple(path)
    return (path in tree.keys and tree.values.get(path) == tree.keys[path]
            and value_at(tree.data, path) is None)


def value_at(data: Any, path: PathKey) -> Any:
    for part in path:
        in_dict = isinstance(data, dict) and part in data
        if not (in_dict or isinstance(data, list) and isinstance(part, int) and part < len(data)):
            return None
        data = data[part]
    return data


def _under(problem: Problem, name: str) -> bool:
    return problem.path == name or problem.path.startswith((name + ".", name + "["))


def _last_line(tree: Tree, path: PathKey) -> int:
    n = len(path)
    return max(loc.line for table in (tree.keys, tree.values) for p, loc in table.items()
               if p[:n] == path)


def explain_indentation(tree: Tree, problems: list[Problem],
                        fits: Callable[[PathKey], bool]) -> list[Problem]:
    """Fold "X: expected a mapping, found null" plus the errors of the keys written after X at
    X's own indentation (and accepted inside X, per `fits`) into one indentation problem."""
    from .load import dotted

    out = list(problems)
    for path in [p for p in tree.keys if is_empty_value(tree, p)]:
        name, key = dotted(path), tree.keys[path]
        mine = [p for p in out if p.path == name and p.loc == key]
        if not mine:
            continue
        siblings = sorted((loc.line, p) for p, loc in tree.keys.items()
                          if p[:-1] == path[:-1] and loc.file == key.file
                          and loc.col == key.col and loc.line > key.line)
        adopted: list[PathKey] = []
        for _, sibling in siblings:
            has_errors = any(_under(p, dotted(sibling)) for p in out)
            if not (has_errors and fits((*path, sibling[-1]))):
                break
            adopted.append(sibling)
        if not adopted:
            out = [replace(p, found="nothing (the key has no value)") if p in mine
                   and p.found == "null" else p for p in out]
            continue
        names = ", ".join(f"'{s[-1]}'" for s in adopted)
        first, last = tree.keys[adopted[0]].line, _last_line(tree, adopted[-1])
        lines = f"line {first}" if first == last else f"lines {first}-{last}"
        out = [p for p in out if p not in mine and not any(_under(p, dotted(s)) for s in adopted)]
        out.append(Problem(
            f"'{path[-1]}' is empty: the keys meant for it are not indented under it",
            loc=key, path=name, expected=f"{names} indented under '{path[-1]}'",
            found=f"{names} at column {key.col}, the indentation of '{path[-1]}' itself",
            hint=f"indent {lines} by two more spaces"))
    return out
