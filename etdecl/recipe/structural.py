"""The structural pass: pydantic's errors turned into located problems, in etdecl's own words.

Pydantic's messages ("Input should be ...", "... after validation", raw regular expressions)
never reach the user: each error kind is said again here, with what was expected and what was
found kept apart, so no phrase is doubled. Errors a union reports once per member are merged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .annotations import annotation_at, model_fields_at, type_names, wants_list
from .errors import Problem, did_you_mean, one_of
from .explain import option_problem
from .indentation import explain_indentation
from .load import PathKey, Tree, dotted
from .schema import Recipe

TYPE_WORDS = {
    "int": "an integer", "float": "a number", "bool": "true or false", "string": "a string",
    "str": "a string", "list": "a list", "dict": "a mapping", "model": "a mapping",
    "model_attributes": "a mapping",
}
RANGE_WORDS = {
    "greater_than": ("too small", "greater than {gt}"),
    "greater_than_equal": ("too small", "at least {ge}"),
    "less_than": ("too large", "less than {lt}"),
    "less_than_equal": ("too large", "at most {le}"),
}
NAME_WORDS = "a name of letters, digits, '_' and '-', starting with a letter or '_'"
METRIC_WORDS = "METRIC or HEAD.METRIC, e.g. accuracy or sentiment.macro_f1"


@dataclass(frozen=True)
class StructuralError:
    """One pydantic error at a recipe data path (union tags and validator names dropped)."""

    path: PathKey
    kind: str
    on_key: bool = False
    """The mapping key itself is wrong (a name), not the value under it."""


def data_path(loc: tuple, data: Any) -> tuple[PathKey, bool]:
    """Drop pydantic's union-tag and validator entries from an error location; say whether the
    error is about a mapping key (`[key]`)."""
    out: list[str | int] = []
    node = data
    on_key = False
    for part in loc:
        if isinstance(node, dict):
            if part in node:
                out.append(part)
                node = node[part]
                continue
            on_key = on_key or part == "[key]"
            if part == node.get("type") or (isinstance(part, str) and "[" in part):
                continue
            out.append(part)
            node = None
        elif isinstance(node, list) and isinstance(part, int):
            out.append(part)
            node = node[part] if part < len(node) else None
        elif isinstance(node, list) and isinstance(part, str):
            continue  # a union member's tag (`list[...]`, `str`) over a list value
        else:
            break
    return tuple(out), on_key


def found(value: Any) -> str:
    """A value as the user wrote it, with its kind: `string 'fast'`, `integer 3`."""
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


def _type_word(kind: str) -> str | None:
    base = kind.removesuffix("_type").removesuffix("_parsing")
    return TYPE_WORDS.get(base) if base != kind else None


def _or_list(words: list[str]) -> str:
    words = list(dict.fromkeys(words))
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _list_hint(path: PathKey, tree: Tree) -> str | None:
    """A list given on the command line needs YAML's flow syntax."""
    origin = tree.origins.get(path) or ""
    if not origin.startswith("--set") or not wants_list(path, tree.data):
        return None
    return f"write a list as --set {dotted(path)}='[a, b]'"


def _wrong_type(errs: list[dict], path: PathKey, tree: Tree) -> Problem:
    words = [w for e in errs if (w := _type_word(e["type"]))]
    hint = _list_hint(path, tree) if "a list" in words else None
    return Problem("wrong type", loc=tree.where(path), path=dotted(path),
                   expected=_or_list(words), found=found(errs[0].get("input")), hint=hint)


def _problem(err: dict, path: PathKey, on_key: bool, tree: Tree) -> Problem:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    where = tree.where(path)
    name = str(path[-1]) if path else ""
    section = str(path[0]) if path else ""
    if kind == "extra_forbidden":
        allowed = model_fields_at(path[:-1], tree.data)
        return Problem(f"unknown key '{name}'", loc=tree.key_where(path), path=dotted(path),
                       expected=one_of(allowed) if allowed else None,
                       hint=did_you_mean(name, allowed))
    if kind == "missing":
        parent = path[:-1]
        hint = "add 'etdecl: 1' at the top of the recipe" if path == ("etdecl",) else None
        return Problem(f"missing required key '{name}'", loc=tree.where(parent),
                       path=dotted(parent) or "(top level)", hint=hint)
    if kind == "union_tag_invalid" or (kind == "literal_error" and name == "type"):
        tags = _quoted(str(ctx.get("expected_tags") or ctx.get("expected") or ""))
        tag = ctx.get("tag", value)
        where = tree.where((*path, "type")) if kind == "union_tag_invalid" else where
        shown_path = dotted(path if name == "type" else (*path, "type"))
        noun = "method" if "method" in path else section.rstrip("s") or "component"
        return Problem(f"unknown {noun} type '{tag}'", loc=where,
                       path=shown_path, expected=one_of(tags), hint=did_you_mean(str(tag), tags))
    if kind == "union_tag_not_found":
        tags = type_names(annotation_at(path, tree.data))
        return Problem("missing required key 'type'", loc=where, path=dotted(path),
                       expected=one_of(tags))
    if kind == "literal_error":
        if name == "etdecl" and len(path) == 1:
            return Problem("unsupported recipe format version", loc=where, path="etdecl",
                           expected=str(ctx.get("expected")), found=found(value),
                           hint="run 'etdecl migrate' to upgrade an older recipe"
                           if isinstance(value, int) and value < 1 else None)
        special = option_problem(path, value, tree)
        if special is not None:
            return special
        choices = _quoted(str(ctx.get("expected", "")))
        return Problem("value not allowed", loc=where, path=dotted(path),
                       expected=one_of(choices) if choices else str(ctx.get("expected")),
                       found=found(value),
                       hint=did_you_mean(str(value), choices) if choices else None)
    if kind in RANGE_WORDS:
        message, expected = RANGE_WORDS[kind]
        bounds = {k: int(v) if isinstance(v, float) and v.is_integer() else v
                  for k, v in ctx.items()}
        return Problem(message, loc=where, path=dotted(path), expected=expected.format(**bounds),
                       found=found(value))
    if kind in ("too_short", "too_long"):
        limit = ctx.get("min_length" if kind == "too_short" else "max_length")
        noun = ("entry", "entries") if isinstance(value, dict) else ("item", "items")
        message = "empty" if not value else "too few items" if kind == "too_short" else \
            "too many items"
        bound = "at least" if kind == "too_short" else "at most"
        return Problem(message, loc=where, path=dotted(path),
                       expected=f"{bound} {limit} {noun[limit != 1]}", found=found(value))
    if kind == "string_pattern_mismatch":
        loc = tree.key_where(path) if on_key else where
        what = "name" if on_key or name == "name" else "value"
        from .schema_train import METRIC_PATTERN

        words = METRIC_WORDS if ctx.get("pattern") == METRIC_PATTERN else NAME_WORDS
        return Problem(f"not a valid {what}", loc=loc, path=dotted(path),
                       expected=words, found=found(name if on_key else value))
    if kind == "string_too_long":
        loc = tree.key_where(path) if on_key else where
        return Problem("too long", loc=loc, path=dotted(path),
                       expected=f"at most {ctx.get('max_length')} characters",
                       found=f"{len(str(value))} characters")
    if _type_word(kind):
        return _wrong_type([err], path, tree)
    return Problem("value not accepted", loc=where, path=dotted(path), found=found(value))


def check_structure(tree: Tree) -> tuple[Recipe | None, list[Problem], list[StructuralError]]:
    """Validate the merged tree: the recipe, or every problem and the paths where they sit."""
    try:
        return Recipe.model_validate(tree.data), [], []
    except ValidationError as err:
        raw = err.errors(include_url=False)
    groups: dict[tuple[PathKey, bool], list[dict]] = {}
    for e in raw:
        groups.setdefault(data_path(e["loc"], tree.data), []).append(e)
    problems: list[Problem] = []
    errors: list[StructuralError] = []
    deeper = {p[:k] for p, _ in groups for k in range(len(p))}
    for (path, on_key), errs in groups.items():
        errors.extend(StructuralError(path, e["type"], on_key) for e in errs)
        typed = [e for e in errs if _type_word(e["type"])]
        if path in deeper and typed:  # a union member that took the value failed inside it:
            errs = [e for e in errs if e not in typed]  # say that, not "wrong type" here
            typed = []
        if len(typed) > 1:  # one error per member of a union: say it once, listing them all
            problems.append(_wrong_type(typed, path, tree))
            errs = [e for e in errs if e not in typed]
        problems.extend(_problem(e, path, on_key, tree) for e in errs)
    seen: set[tuple] = set()
    unique = []
    for p in problems:
        key = (p.loc, p.path, p.message)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    in_schema = lambda p: annotation_at(p, tree.data) is not None  # noqa: E731
    return None, explain_indentation(tree, unique, in_schema), errors
