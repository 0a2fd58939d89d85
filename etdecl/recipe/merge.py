"""How `extends:` merges a child recipe over its parent, and when a mapping replaces instead.

Mappings merge key by key; lists and scalars replace. A mapping replaces the parent's whole
mapping, rather than merging into it, when

- its `type:` differs from the parent's (the old keys belong to another component),
- it is a data source of another kind (`path:` over `package:`/`resource:`, or the reverse):
  pointing a gallery recipe at one's own file must not inherit the package's resource or limit,
- it carries the marker `$replace: true` (e.g. `where: {$replace: true}` clears a filter, which
  an empty mapping cannot do: it merges to nothing).

Every merged path keeps the location and origin (file or override) of the value that won.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import Problem, RecipeError
from .load import PathKey, Tree, dotted, kind_of

REPLACE_MARKER = "$replace"
"""Key that makes a mapping replace the parent's mapping at the same place."""

SOURCE_PATHS = {("data", "train"), ("data", "dev")}
"""Mappings that are data sources: their kind is `path` or `package`."""


def drop_prefix(table: dict[PathKey, Any], prefix: PathKey) -> None:
    """Forget every path strictly below `prefix`."""
    n = len(prefix)
    for key in [k for k in table if k[:n] == prefix and len(k) > n]:
        del table[key]


def copy_prefix(dst: Tree, src: Tree, prefix: PathKey) -> None:
    """Copy the positions and origins of `prefix` and everything below it."""
    n = len(prefix)
    for name in ("keys", "values", "origins"):
        s, d = getattr(src, name), getattr(dst, name)
        for key, val in s.items():
            if key[:n] == prefix:
                d[key] = val


def source_kind(node: dict) -> str | None:
    """`path` or `package` for a data source mapping, None when it names neither."""
    if "path" in node:
        return "path"
    if "package" in node or "resource" in node:
        return "package"
    return None


def _kind(node: dict, path: PathKey) -> Any:
    if "type" in node:
        return ("type", node["type"])
    if path in SOURCE_PATHS:
        return source_kind(node)
    return None


def replaces(base: Any, child: Any, path: PathKey, marked: set[PathKey]) -> bool:
    """True when `child` takes the place of `base` whole instead of merging into it."""
    if not (isinstance(base, dict) and isinstance(child, dict)) or path in marked:
        return True
    old, new = _kind(base, path), _kind(child, path)
    return old is not None and new is not None and old != new


def take_markers(tree: Tree) -> set[PathKey]:
    """Remove every `$replace:` key from a parsed file; return the paths it marked.

    `$replace: false` is allowed (and does nothing); any other value is a located error.
    """
    marked: set[PathKey] = set()
    problems: list[Problem] = []

    def walk(node: Any, path: PathKey) -> None:
        if isinstance(node, dict):
            if REPLACE_MARKER in node:
                sub = (*path, REPLACE_MARKER)
                flag = node.pop(REPLACE_MARKER)
                if flag is True:
                    marked.add(path)
                elif flag is not False:
                    problems.append(Problem(
                        f"'{REPLACE_MARKER}' marks a mapping that replaces the inherited one",
                        loc=tree.where(sub), path=dotted(sub), expected="true or false",
                        found=f"{kind_of(flag)} {flag!r}"))
                for table in (tree.keys, tree.values, tree.origins):
                    table.pop(sub, None)
                    drop_prefix(table, sub)
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*path, i))

    walk(tree.data, ())
    if problems:
        raise RecipeError(problems)
    return marked


def without_markers(value: Any) -> Any:
    """`value` without `$replace:` keys (a `--set` value replaces whatever was there anyway)."""
    if isinstance(value, dict):
        return {k: without_markers(v) for k, v in value.items() if k != REPLACE_MARKER}
    if isinstance(value, list):
        return [without_markers(v) for v in value]
    return value


def merge(base: Tree, child: Tree, marked: set[PathKey] | frozenset[PathKey] = frozenset()
          ) -> Tree:
    """Deep-merge `child` over `base`, keeping positions of whichever side each value came from.

    `marked` are the paths where the child said `$replace: true`.
    """
    out = Tree(copy.deepcopy(base.data), dict(base.keys), dict(base.values), dict(base.origins))
    marked = set(marked)

    def walk(b: Any, c: Any, path: PathKey) -> Any:
        if replaces(b, c, path, marked):
            for table in (out.keys, out.values, out.origins):
                drop_prefix(table, path)
            copy_prefix(out, child, path)
            return copy.deepcopy(c)
        result = dict(b)
        for key, cval in c.items():
            sub = (*path, key)
            if key in b:
                result[key] = walk(b[key], cval, sub)
            else:
                result[key] = copy.deepcopy(cval)
                copy_prefix(out, child, sub)
            for name in ("keys", "values", "origins"):
                if sub in getattr(child, name):
                    getattr(out, name)[sub] = getattr(child, name)[sub]
        return result

    out.data = walk(base.data, child.data, ())
    for name in ("keys", "values", "origins"):  # the top level belongs to the extending file
        if () in getattr(child, name):
            getattr(out, name)[()] = getattr(child, name)[()]
    return out
