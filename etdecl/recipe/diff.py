"""A semantic diff of two resolved recipes: which dotted paths were added, removed or changed.

Both recipes are compared as they would run: `extends:` merged, overrides applied, defaults
filled (so `lr: 5.0e-5` written out equals the default left unsaid). Key order, comments and
formatting never show up. Each side's value carries its origin: `file:line`, `--set ...` or
`default`. Two recipes without differences have the same fingerprint.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .load import PathKey, dotted
from .loaded import LoadedRecipe, canonical_dict


@dataclass(frozen=True)
class Change:
    op: str
    """'added', 'removed' or 'changed'."""
    path: str
    a: Any = None
    b: Any = None
    origin_a: str | None = None
    origin_b: str | None = None


def origin(loaded: LoadedRecipe, path: PathKey) -> str:
    return loaded.origin_of(path)


def diff_recipes(a: LoadedRecipe, b: LoadedRecipe) -> list[Change]:
    """Changes from `a` to `b`, in recipe order; a null value counts as absent."""
    changes: list[Change] = []

    def walk(x: Any, y: Any, path: PathKey) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for key in list(x) + [k for k in y if k not in x]:
                walk(x.get(key), y.get(key), (*path, key))
            return
        if x == y and type(x) is type(y):
            return
        where = dotted(path)
        x, y = _pruned(x), _pruned(y)
        if x is None:
            changes.append(Change("added", where, b=y, origin_b=origin(b, path)))
        elif y is None:
            changes.append(Change("removed", where, a=x, origin_a=origin(a, path)))
        else:
            changes.append(Change("changed", where, x, y, origin(a, path), origin(b, path)))

    walk(canonical_dict(a.recipe), canonical_dict(b.recipe), ())
    return changes


def _pruned(value: Any) -> Any:
    """Nulls inside a mapping mean 'not set': leave them out of what the diff shows."""
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


_PLAIN = re.compile(r"^[A-Za-z_./][A-Za-z0-9_./ -]*$")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "~", ""}


def flow(value: Any) -> str:
    """A value as short YAML flow text: `{path: a.jsonl, limit: 10}`, `[neg, pos]`, `3.0e-05`."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{flow(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        plain = _PLAIN.match(value) and value.lower() not in _RESERVED and value == value.strip()
        return value if plain else json.dumps(value, ensure_ascii=False)
    return json.dumps(value)


def render_text(changes: list[Change], a: LoadedRecipe, b: LoadedRecipe,
                names: tuple[str, str]) -> str:
    lines = [f"--- {names[0]}  fingerprint {a.fingerprint[:16]}",
             f"+++ {names[1]}  fingerprint {b.fingerprint[:16]}"]
    for c in changes:
        if c.op == "added":
            lines.append(f"+ {c.path}: {flow(c.b)}  ({c.origin_b})")
        elif c.op == "removed":
            lines.append(f"- {c.path}: {flow(c.a)}  ({c.origin_a})")
        else:
            lines.append(f"~ {c.path}: {flow(c.a)} -> {flow(c.b)}  ({c.origin_a} -> "
                         f"{c.origin_b})")
    counts = {op: sum(c.op == op for c in changes) for op in ("added", "removed", "changed")}
    if changes:
        lines.append(", ".join(f"{n} {op}" for op, n in counts.items()))
    else:
        lines.append("no differences: the recipes are the same (same fingerprint)")
    return "\n".join(lines)


def render_json(changes: list[Change], a: LoadedRecipe, b: LoadedRecipe,
                names: tuple[str, str]) -> str:
    def side(loaded: LoadedRecipe, name: str) -> dict[str, Any]:
        return {"file": name, "fingerprint": loaded.fingerprint, "overrides": loaded.overrides}

    body: dict[str, Any] = {"a": side(a, names[0]), "b": side(b, names[1]),
                            "identical": not changes}
    body["added"] = [{"path": c.path, "value": c.b, "origin": c.origin_b}
                     for c in changes if c.op == "added"]
    body["removed"] = [{"path": c.path, "value": c.a, "origin": c.origin_a}
                       for c in changes if c.op == "removed"]
    body["changed"] = [{"path": c.path, "a": c.a, "b": c.b, "origin_a": c.origin_a,
                        "origin_b": c.origin_b} for c in changes if c.op == "changed"]
    return json.dumps(body, indent=2)
