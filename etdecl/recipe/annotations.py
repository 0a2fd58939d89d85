"""Walking the recipe's pydantic annotations along a data path, without validating anything.

Pydantic reports locations through union tags and validator names; these helpers follow the
schema the way the data does, so an error (or a `--set` value) can be tied to what the key
accepts.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

from .load import PathKey
from .schema import Recipe


def unwrap(ann: Any) -> Any:
    while typing.get_origin(ann) is typing.Annotated:
        ann = typing.get_args(ann)[0]
    return ann


def union_members(ann: Any) -> list[Any]:
    """The members of a union, nested unions flattened (`StageMethod | None` is an optional
    discriminated union)."""
    ann = unwrap(ann)
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(ann) for m in union_members(a)]
    return [ann]


def type_tags(member: Any) -> tuple[str, ...]:
    """The `type:` values a component model answers to (empty for models without `type`)."""
    if isinstance(member, type) and issubclass(member, BaseModel) and "type" in member.model_fields:
        return typing.get_args(member.model_fields["type"].annotation)
    return ()


def type_names(ann: Any) -> list[str]:
    """The `type:` tags a (possibly discriminated) union of models accepts."""
    return [tag for member in union_members(ann) for tag in type_tags(member)]


def _step(ann: Any, part: str | int, value: Any) -> Any:
    """The annotation one path element below `ann`, choosing union members by `type:`."""
    for member in union_members(ann):
        if member is type(None):
            continue
        origin = typing.get_origin(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            tags = type_tags(member)
            if tags and isinstance(value, dict) and value.get("type") not in tags \
                    and len(union_members(ann)) > 1:
                continue
            if isinstance(part, str) and part in member.model_fields:
                return member.model_fields[part].annotation
        elif origin is dict and isinstance(part, str):
            return typing.get_args(member)[1]
        elif origin is list and isinstance(part, int):
            return typing.get_args(member)[0]
    return None


def node_at(path: PathKey, data: Any) -> Any:
    node = data
    for part in path:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if not (in_dict or in_list):
            return None
        node = node[part]
    return node


def annotation_at(path: PathKey, data: Any) -> Any:
    """The schema annotation governing `path` in the recipe (None when outside the schema)."""
    ann: Any = Recipe
    for i, part in enumerate(path):
        ann = _step(ann, part, node_at(path[:i], data))
        if ann is None:
            return None
    return ann


def wants_text(path: PathKey, data: Any) -> bool:
    """True where the schema accepts only a string (or null), e.g. `name` or `data.fields.text`."""
    ann = annotation_at(path, data)
    members = [m for m in union_members(ann) if m is not type(None)] if ann is not None else []
    return bool(members) and all(m is str for m in members)


def wants_list(path: PathKey, data: Any) -> bool:
    """True where the schema accepts a list, e.g. `heads.cls.labels`."""
    ann = annotation_at(path, data)
    members = union_members(ann) if ann is not None else []
    return any(typing.get_origin(m) is list for m in members)


def model_fields_at(path: PathKey, data: Any) -> list[str]:
    """The keys the section or component at `path` accepts."""
    ann = annotation_at(path, data)
    for member in union_members(ann) if ann is not None else []:
        if isinstance(member, type) and issubclass(member, BaseModel):
            tags = type_tags(member)
            node = node_at(path, data)
            if tags and isinstance(node, dict) and node.get("type") not in tags:
                continue
            return list(member.model_fields)
    return []
