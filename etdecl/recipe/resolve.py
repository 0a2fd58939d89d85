"""Turn a recipe file into one merged tree: follow `extends:`, then apply `--set` overrides.

How a child merges over its parent (and when a mapping replaces instead) is in `merge.py`.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from .errors import Location, Problem, RecipeError, did_you_mean
from .load import (
    GALLERY_PREFIX,
    MAX_VALUES,
    PathKey,
    Tree,
    dotted,
    explicit_tags,
    kind_of,
    parse_text,
    read_source,
    show_path,
)
from .merge import drop_prefix, merge, take_markers, without_markers

__all__ = ["apply_overrides", "gallery_dir", "load_tree", "merge", "parse_override"]


def gallery_dir() -> Path:
    """The shipped recipe gallery: `recipes/` next to the package (source checkout or wheel)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "gallery", here.parent / "recipes"):
        if candidate.is_dir():
            return candidate
    return here.parent / "recipes"


def gallery_label(path: Path) -> str | None:
    """`gallery:NAME` for a file inside the gallery, so messages about recipes reached through
    `extends:` do not show where etdecl happens to be installed (often site-packages)."""
    try:
        rel = path.resolve().relative_to(gallery_dir().resolve())
    except ValueError:
        return None
    return GALLERY_PREFIX + rel.as_posix().removesuffix(".yaml")


def source_file(label: str) -> Path:
    """The file behind a location label (`gallery:NAME` or a path as shown in messages)."""
    if label.startswith(GALLERY_PREFIX):
        return _target_path(label, Path.cwd())
    return Path(label)


def _extends_targets(tree: Tree, file: str) -> list[tuple[str, Location | None]]:
    raw = tree.data.get("extends")
    if raw is None:
        return []
    loc = tree.values.get(("extends",))
    if isinstance(raw, str):
        return [(raw, loc)]
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        return [(x, tree.values.get(("extends", i), loc)) for i, x in enumerate(raw)]
    path: PathKey = ("extends",)
    expected = "a path or a list of paths"
    if isinstance(raw, list):  # point at the first item that is not a path
        path = ("extends", next(i for i, x in enumerate(raw) if not isinstance(x, str)))
        raw, expected = raw[path[1]], "a path (string)"
    raise RecipeError([Problem("'extends' must be a recipe path or a list of them",
                               loc=tree.values.get(path, loc), path=dotted(path),
                               expected=expected, found=kind_of(raw))])


def _target_path(target: str, here: Path) -> Path:
    if target.startswith(GALLERY_PREFIX):
        name = target[len(GALLERY_PREFIX):]
        return gallery_dir() / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    return (here.parent / target).resolve()


def _gallery_hint(target: str) -> str | None:
    """A missing relative file named like a gallery recipe was most likely meant as one."""
    stem = Path(target).stem
    if Path(target).suffix in ("", ".yaml", ".yml") and (gallery_dir() / f"{stem}.yaml").is_file():
        return f"did you mean 'gallery:{stem}'? (gallery recipes are named with 'gallery:')"
    return None


def load_tree(path: Path) -> Tree:
    """Load a recipe file and everything it extends, merged (parents first, this file last)."""
    return _load(Path(path), ())[0]


def _load(path: Path, stack: tuple[Path, ...]) -> tuple[Tree, set[PathKey]]:
    """The merged tree of `path`, and the paths marked `$replace: true` along its chain (so a
    parent's marker also holds against an earlier parent in a child's `extends:` list)."""
    shown = (gallery_label(path) if stack else None) or show_path(path)
    tree = parse_text(read_source(path, shown), shown)
    targets = _extends_targets(tree, shown)
    marked = take_markers(tree)
    if not targets:
        return tree, marked
    me = path.resolve()
    merged: Tree | None = None
    inherited: set[PathKey] = set()
    problems: list[Problem] = []
    for target, loc in targets:
        parent = _target_path(target, me)
        if parent in (*stack, me):
            chain = " -> ".join(show_path(p) for p in (*stack, me, parent))
            problems.append(Problem("'extends' forms a cycle", loc=loc, path="extends",
                                    found=chain))
            continue
        if not parent.is_file():
            hint = None
            if target.startswith(GALLERY_PREFIX):
                names = [p.stem for p in gallery_dir().glob("*.yaml")]
                hint = did_you_mean(target[len(GALLERY_PREFIX):], names)
            else:
                hint = _gallery_hint(target)
            problems.append(Problem(f"'extends' names a recipe that does not exist: {target}",
                                    loc=loc, path="extends", expected="an existing recipe file",
                                    found=show_path(parent), hint=hint))
            continue
        try:
            parent_tree, parent_marked = _load(parent, (*stack, me))
        except RecipeError as err:
            problems.extend(err.problems)
            continue
        merged = parent_tree if merged is None else merge(merged, parent_tree, parent_marked)
        inherited |= parent_marked
    if problems:
        raise RecipeError(problems)
    assert merged is not None
    child = Tree(dict(tree.data), tree.keys, tree.values, tree.origins)
    child.data.pop("extends", None)
    merged.data.pop("extends", None)
    for table in (merged.keys, merged.values, merged.origins):
        table.pop(("extends",), None)
        drop_prefix(table, ("extends",))
    out = merge(merged, child, marked)
    for table in (out.keys, out.values, out.origins):
        table.pop(("extends",), None)
        drop_prefix(table, ("extends",))
    out.data.pop("extends", None)
    return out, marked | inherited


def _parse_override_path(text: str) -> list[str | int]:
    parts: list[str | int] = []
    if not text:
        raise ValueError("empty path")
    for chunk in text.split("."):
        if not chunk:
            raise ValueError(f"empty key in path '{text}'")
        if "[" in chunk and chunk.endswith("]"):
            name, _, rest = chunk.partition("[")
            if name:
                parts.append(name)
            for idx in rest[:-1].split("]["):
                if not idx.isdigit():
                    raise ValueError(f"list index must be a non-negative integer, found '[{idx}]'")
                parts.append(int(idx))
        else:
            parts.append(chunk)
    return parts


class BadValue(ValueError):
    """The VALUE of KEY.PATH=VALUE cannot be read (the key path itself is fine)."""


VALUE_EXAMPLES = "a YAML value, e.g. 3e-5, text, '[a, b]' or '{k: v}'"
YAML_CONTEXTS = {"flow mapping": "a '{' is not closed", "flow sequence": "a '[' is not closed",
                 "quoted scalar": "a quote is not closed"}


def _yaml_says(err: YAMLError) -> str:
    """The YAML library's complaint about a --set value, in our words."""
    context = str(getattr(err, "context", "") or "")
    for key, words in YAML_CONTEXTS.items():
        if key in context:
            return words
    found = re.search(r"found character '(.+?)'", str(getattr(err, "problem", "") or ""))
    if found:
        return f"'{found.group(1)}' cannot start a value (quote the value)"
    mark = getattr(err, "problem_mark", None)
    return f"it stops making sense at character {mark.column + 1}" if mark is not None \
        else "it cannot be read"


def parse_override(spec: str) -> tuple[list[str | int], Any]:
    """`a.b.c=value` → (['a','b','c'], value), the value read as a YAML scalar or flow node."""
    if "=" not in spec:
        raise ValueError("no '=' between key and value")
    key, _, raw = spec.partition("=")
    path = _parse_override_path(key.strip())
    tags = explicit_tags(raw, "--set")
    if tags:  # as in recipe files: no tag reaches a constructor, not even a safe one
        raise BadValue(f"value is not valid YAML for a recipe: {tags[0].message}")
    try:
        value = YAML(typ="safe", pure=True).load(io.StringIO(raw)) if raw.strip() else ""
    except YAMLError as err:
        raise BadValue(f"value is not valid YAML: {_yaml_says(err)}") from None
    except Exception:  # noqa: BLE001 - odd input the YAML library fails on
        raise BadValue("value is not valid YAML") from None
    _check_value_size(value)
    return path, without_markers(value)  # an override replaces anyway


def _check_value_size(value: Any) -> None:
    """Refuse values that refer to themselves (`&a [*a]`), expand past MAX_VALUES, or have
    keys that are not strings (as recipe files do)."""
    budget = MAX_VALUES
    todo: list[tuple[Any, frozenset[int]]] = [(value, frozenset())]
    while todo:
        node, above = todo.pop()
        budget -= 1
        if budget < 0:
            raise BadValue(f"value expands to more than {MAX_VALUES} values")
        if isinstance(node, dict) and not all(isinstance(k, str) for k in node):
            key = next(k for k in node if not isinstance(k, str))
            raise BadValue(f"mapping keys must be strings, found {kind_of(key)} {key!r}")
        if isinstance(node, (dict, list)):
            if id(node) in above:
                raise BadValue("value contains itself (a YAML alias of its own anchor)")
            inner = above | {id(node)}
            items = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
            todo.extend((x, inner) for x in items)


def apply_overrides(tree: Tree, overrides: list[str],
                    collect: list[Problem] | None = None) -> Tree:
    """Apply `--set` overrides in order; each is recorded as the origin of the path it sets.

    A bad override raises RecipeError, or with `collect` is added to it while the good ones
    still apply (so the recipe's own problems are reported in the same run).
    """
    from .annotations import wants_text  # annotations imports the schema, not this module

    problems: list[Problem] = []
    for spec in overrides:
        origin = f"--set {spec}"
        loc = Location(origin)
        try:
            parts, value = parse_override(spec)
        except (ValueError, TypeError) as err:
            problems.append(Problem(f"bad override: {err}", loc=loc,
                                    expected=VALUE_EXAMPLES if isinstance(err, BadValue)
                                    else "KEY.PATH=VALUE, e.g. train.lr=3e-5"))
            continue
        if isinstance(value, (bool, int, float)) and wants_text(tuple(parts), tree.data):
            value = spec.partition("=")[2].strip()  # `--set name=2024` names a run '2024'
        node = tree.data
        ok = True
        for i, part in enumerate(parts):
            if not isinstance(node, (dict, list)):
                problems.append(Problem("bad override: cannot descend into a value that is not "
                                        "a mapping", loc=loc, path=dotted(tuple(parts[:i])),
                                        found=f"{kind_of(node)} {node!r}"))
                ok = False
                break
            if isinstance(node, dict) != isinstance(part, str) or (
                    isinstance(node, list) and part >= len(node)):
                what = f"a list of {len(node)} items" if isinstance(node, list) else "a mapping"
                problems.append(Problem("bad override: no such place", loc=loc,
                                        path=dotted(tuple(parts[: i + 1])),
                                        found=f"{what} at {dotted(tuple(parts[:i])) or 'the top'}"))
                ok = False
                break
            if i == len(parts) - 1:
                node[part] = value
            else:
                if isinstance(node, dict) and node.get(part) is None:
                    node[part] = {}
                    created = tuple(parts[: i + 1])  # so errors below it point at the override
                    for table in (tree.keys, tree.values):
                        table[created] = loc
                    tree.origins[created] = origin
                node = node[part]
        if not ok:
            continue
        path = tuple(parts)
        for table in (tree.keys, tree.values, tree.origins):
            drop_prefix(table, path)
        tree.keys[path] = loc
        tree.values[path] = loc
        tree.origins[path] = origin
        _record_override_children(tree, path, value, loc, origin)
    if problems and collect is None:
        raise RecipeError(problems)
    if collect is not None:
        collect.extend(problems)
    return tree


def _record_override_children(tree: Tree, path: PathKey, value: Any, loc: Location,
                              origin: str) -> None:
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, sub in items:
        p = (*path, key)
        tree.keys[p] = tree.values[p] = loc
        tree.origins[p] = origin
        _record_override_children(tree, p, sub, loc, origin)
