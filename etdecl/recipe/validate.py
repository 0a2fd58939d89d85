"""From a merged tree to a checked `Recipe`: pydantic errors mapped back to file:line:col.

Pydantic reports locations as tuples through the model (including union tags and validator
names); we walk them against the data to recover the YAML path, then look the position up.
"""

from __future__ import annotations

import hashlib
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .characters import override_character_problems
from .errors import Location, Problem, RecipeError, did_you_mean, one_of
from .indentation import explain_indentation
from .load import PathKey, Tree, dotted
from .resolve import apply_overrides, load_tree
from .schema import Recipe


@dataclass
class LoadedRecipe:
    """A checked recipe with its merged tree (positions, origins), source file and fingerprint."""

    recipe: Recipe
    tree: Tree
    file: Path
    fingerprint: str
    warnings: list[Problem] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)

    def where(self, *path: str | int) -> Location | None:
        return self.tree.where(tuple(path))

    def origin_of(self, path: PathKey) -> str:
        """Where a value came from: `file:line`, `--set k=v`, or `default`."""
        src = self.tree.origins.get(tuple(path))
        if src is None:
            return "default"
        loc = self.tree.values.get(tuple(path))
        if src.startswith("--set") or loc is None or not loc.line:
            return src
        return f"{src}:{loc.line}"

    def origin_dir(self, *path: str | int) -> Path:
        """Directory of the file that set this value (for relative paths), else the recipe's."""
        origin = self.tree.origins.get(tuple(path), "")
        if origin and not origin.startswith("--set"):
            return Path(origin).resolve().parent
        if origin.startswith("--set"):
            return Path.cwd()
        return self.file.resolve().parent


def fingerprint(recipe: Recipe) -> str:
    """sha256 of the canonical resolved recipe (defaults filled, keys sorted)."""
    canonical = json.dumps(canonical_dict(recipe), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def canonical_dict(recipe: Recipe) -> dict[str, Any]:
    return recipe.model_dump(mode="json", exclude={"extends"})


# ── pydantic error → located problem ─────────────────────────────────────────────────────────


def _unwrap(ann: Any) -> Any:
    while typing.get_origin(ann) is typing.Annotated:
        ann = typing.get_args(ann)[0]
    return ann


def _union_members(ann: Any) -> list[Any]:
    ann = _unwrap(ann)
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        return [_unwrap(a) for a in typing.get_args(ann)]
    return [ann]


def type_names(ann: Any) -> list[str]:
    """The `type:` tags a (possibly discriminated) union of models accepts."""
    names = []
    for member in _union_members(ann):
        if (isinstance(member, type) and issubclass(member, BaseModel)
                and "type" in member.model_fields):
            names.extend(typing.get_args(member.model_fields["type"].annotation))
    return names


def _step(ann: Any, part: str | int, value: Any) -> Any:
    """The annotation one path element below `ann`, choosing union members by `type:`."""
    for member in _union_members(ann):
        if member is type(None):
            continue
        origin = typing.get_origin(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            if "type" in member.model_fields and isinstance(value, dict):
                tags = typing.get_args(member.model_fields["type"].annotation)
                if value.get("type") not in tags and len(_union_members(ann)) > 1:
                    continue
            if isinstance(part, str) and part in member.model_fields:
                return member.model_fields[part].annotation
        elif origin is dict and isinstance(part, str):
            return typing.get_args(member)[1]
        elif origin is list and isinstance(part, int):
            return typing.get_args(member)[0]
    return None


def annotation_at(path: PathKey, data: Any) -> Any:
    """The schema annotation governing `path` in the recipe (None when outside the schema)."""
    ann: Any = Recipe
    node = data
    for part in path:
        ann = _step(ann, part, node)
        if ann is None:
            return None
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return ann


def wants_text(path: PathKey, data: Any) -> bool:
    """True where the schema accepts only a string (or null), e.g. `name` or `data.fields.text`."""
    ann = annotation_at(path, data)
    members = [m for m in _union_members(ann) if m is not type(None)] if ann is not None else []
    return bool(members) and all(m is str for m in members)


def _model_fields_at(path: PathKey, data: Any) -> list[str]:
    ann = annotation_at(path, data)
    for member in _union_members(ann) if ann is not None else []:
        if isinstance(member, type) and issubclass(member, BaseModel):
            if "type" in member.model_fields:
                node = _node_at(path, data)
                tags = typing.get_args(member.model_fields["type"].annotation)
                if isinstance(node, dict) and node.get("type") not in tags:
                    continue
            return list(member.model_fields)
    return []


def _node_at(path: PathKey, data: Any) -> Any:
    node = data
    for part in path:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if not (in_dict or in_list):
            return None
        node = node[part]
    return node


def _data_path(loc: tuple, data: Any) -> PathKey:
    """Drop pydantic's union-tag and validator entries from an error location."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict):
            if part in node:
                out.append(part)
                node = node[part]
                continue
            if part == node.get("type") or (isinstance(part, str) and "[" in part):
                continue
            out.append(part)
            node = None
        elif isinstance(node, list) and isinstance(part, int):
            out.append(part)
            node = node[part] if part < len(node) else None
        else:
            break
    return tuple(out)


def _found(value: Any) -> str:
    if value is None:
        return "null"
    try:
        text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    except (TypeError, ValueError):  # e.g. a mapping with a list as a key, from --set
        text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    kind = {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "integer",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)
    return f"{kind} {text}"


def _quoted(text: str) -> list[str]:
    return re.findall(r"'([^']*)'", text)


def _problem(err: dict, tree: Tree) -> Problem:
    path = _data_path(err["loc"], tree.data)
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    where = tree.where(path)
    name = str(path[-1]) if path else ""
    section = str(path[0]) if path else ""
    if kind == "extra_forbidden":
        allowed = _model_fields_at(path[:-1], tree.data)
        return Problem(f"unknown key '{name}'", loc=tree.key_where(path), path=dotted(path),
                       expected=one_of(allowed) if allowed else None,
                       hint=did_you_mean(name, allowed))
    if kind == "missing":
        parent = path[:-1]
        return Problem(f"missing required key '{name}'", loc=tree.where(parent),
                       path=dotted(parent) or "(top level)",
                       hint=_missing_hint(path))
    if kind in ("union_tag_invalid", "union_tag_not_found", "model_attributes_type"):
        pass
    if kind == "union_tag_invalid" or (kind == "literal_error" and name == "type"):
        tags = _quoted(str(ctx.get("expected_tags") or ctx.get("expected") or ""))
        tag = ctx.get("tag", value)
        where = tree.where((*path, "type")) if kind == "union_tag_invalid" else where
        shown_path = dotted(path if name == "type" else (*path, "type"))
        return Problem(f"unknown {section.rstrip('s') or 'component'} type '{tag}'", loc=where,
                       path=shown_path, expected=one_of(tags), hint=did_you_mean(str(tag), tags))
    if kind == "union_tag_not_found":
        tags = type_names(annotation_at(path, tree.data))
        return Problem("missing required key 'type'", loc=where, path=dotted(path),
                       expected=one_of(tags))
    if kind == "literal_error":
        choices = _quoted(str(ctx.get("expected", "")))
        if name == "etdecl" and len(path) == 1:
            return Problem("unsupported recipe format version", loc=where, path="etdecl",
                           expected=str(ctx.get("expected")), found=_found(value),
                           hint="run 'etdecl migrate' to upgrade an older recipe"
                           if isinstance(value, int) and value < 1 else None)
        return Problem("value not allowed", loc=where, path=dotted(path),
                       expected=one_of(choices) if choices else str(ctx.get("expected")),
                       found=_found(value),
                       hint=did_you_mean(str(value), choices) if choices else None)
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return Problem("expected a mapping", loc=where, path=dotted(path), expected="mapping",
                       found=_found(value))
    msg = err["msg"].removeprefix("Value error, ")
    expected = None
    if kind.endswith("_type") or kind.endswith("_parsing"):
        expected = kind.split("_")[0].replace("int", "integer").replace("float", "number")
        expected = {"bool": "boolean (true/false)", "string": "string"}.get(expected, expected)
        msg = "wrong type"
    return Problem(msg[0].lower() + msg[1:] if msg else kind, loc=where, path=dotted(path),
                   expected=expected, found=_found(value))


def _missing_hint(path: PathKey) -> str | None:
    if path == ("etdecl",):
        return "add 'etdecl: 1' at the top of the recipe"
    return None


def structural_problems(tree: Tree) -> tuple[Recipe | None, list[Problem]]:
    try:
        return Recipe.model_validate(tree.data), []
    except ValidationError as err:
        problems = [_problem(e, tree) for e in err.errors(include_url=False)]
        seen: set[tuple] = set()
        unique = []
        for p in problems:
            key = (p.loc, p.path, p.message)
            if key not in seen:
                seen.add(key)
                unique.append(p)
        return None, explain_indentation(tree, unique, lambda p: annotation_at(p, tree.data)
                                         is not None)


def _explain_old_format(tree: Tree, problems: list[Problem]) -> list[Problem]:
    """A version-0 recipe gets one 'run etdecl migrate' problem instead of the errors its old
    layout causes (missing 'etdecl', unknown 'text'/'label' keys in data sources)."""
    from .migrate import FIELD_KEYS, SPLITS, old_format_problem

    file = tree.values[()].file if () in tree.values else ""
    old = old_format_problem(tree.data, tree.key_where, file)
    if old is None:
        return problems
    explained = {f"data.{s}.{k}" for s in SPLITS for k in FIELD_KEYS}

    def caused_by_old_format(p: Problem) -> bool:
        return ((p.path == "(top level)" and p.message == "missing required key 'etdecl'")
                or (p.path == "etdecl" and p.message == "unsupported recipe format version")
                or (p.path in explained and p.message.startswith("unknown key")))

    return [old] + [p for p in problems if not caused_by_old_format(p)]


def _sort_key(p: Problem) -> tuple:
    loc = p.loc or Location("")
    return (loc.file, loc.line, loc.col, p.path)


def load_recipe(path: str | Path, overrides: list[str] | None = None,
                check_data: bool = True) -> LoadedRecipe:
    """Load, merge, override and check a recipe; raise RecipeError listing every problem."""
    from .check import cross_checks

    path = Path(path)
    tree = load_tree(path)
    if overrides:
        tree = apply_overrides(tree, overrides)
    recipe, problems = structural_problems(tree)
    problems += override_character_problems(tree)
    if recipe is None or problems:
        raise RecipeError(_explain_old_format(tree, sorted(problems, key=_sort_key)))
    loaded = LoadedRecipe(recipe, tree, path, fingerprint(recipe), overrides=list(overrides or []))
    found = cross_checks(loaded, check_data=check_data)
    errors = [p for p in found if p.severity == "error"]
    loaded.warnings = [p for p in found if p.severity != "error"]
    if errors:
        raise RecipeError(sorted(found, key=_sort_key))
    return loaded
