"""A recipe with structural errors, read as far as it is valid, so cross-checks still run.

Without this, one misspelt key would hide every cross-reference and data problem until it was
fixed. Each part with no error under it is validated on its own (its value is exactly what the
full recipe would hold); a part with an error becomes a `Broken` marker. A check that touches a
marker raises `BrokenInput` and is skipped from there on: its inputs are not valid, so
anything it would say could be wrong. Every other check runs as usual.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from .annotations import type_tags, union_members, unwrap
from .load import PathKey
from .schema import Recipe
from .structural import StructuralError

SIZE_ERRORS = {"too_short", "too_long"}
"""A list or mapping of the wrong size is still readable item by item."""


class BrokenInput(BaseException):
    """A check read a part of the recipe that has a structural error.

    A BaseException, like GeneratorExit: it must pass through a check's own
    `except Exception` (which would report it as a problem of the check's subject).
    """

    def __init__(self, path: PathKey) -> None:
        super().__init__(path)
        self.path = path


class Broken:
    """Stands where a recipe part has a structural error; any use of it raises BrokenInput."""

    __slots__ = ("_path",)

    def __init__(self, path: PathKey) -> None:
        object.__setattr__(self, "_path", path)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise BrokenInput(object.__getattribute__(self, "_path"))

    def __getattr__(self, name: str) -> Any:
        raise BrokenInput(object.__getattribute__(self, "_path"))


for _dunder in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__",
                "__bool__", "__len__", "__iter__", "__contains__", "__getitem__", "__int__",
                "__float__", "__index__", "__str__", "__format__", "__add__", "__radd__",
                "__sub__", "__rsub__", "__mul__", "__rmul__", "__mod__", "__rmod__",
                "__truediv__", "__floordiv__", "__neg__"):
    setattr(Broken, _dunder, Broken._refuse)


class Partial:
    """Stands for a section or component whose fields were validated one by one."""

    __slots__ = ("_model", "_fields")

    def __init__(self, model: type[BaseModel], fields: dict[str, Any]) -> None:
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_fields", fields)

    def __getattr__(self, name: str) -> Any:
        fields = object.__getattribute__(self, "_fields")
        if name not in fields:
            raise AttributeError(name)
        value = fields[name]
        if isinstance(value, Broken):
            value._refuse()
        return value

    def __repr__(self) -> str:
        return f"Partial({object.__getattribute__(self, '_model').__name__})"


def _field_annotation(model: type[BaseModel], name: str) -> Any:
    info = model.model_fields[name]
    return typing.Annotated[(info.annotation, *info.metadata)] if info.metadata \
        else info.annotation


def _member_for(ann: Any, value: Any) -> Any:
    """The union member a value means: by `type:` tag for components, else by its kind."""
    members = [m for m in union_members(ann) if m is not type(None)]
    for member in members:
        tags = type_tags(member)
        if tags:
            if isinstance(value, dict) and value.get("type") in tags:
                return member
            continue
        origin = typing.get_origin(member) or member
        if isinstance(origin, type) and issubclass(origin, BaseModel) and isinstance(value, dict):
            return member
        if origin in (dict, list) and isinstance(value, origin):
            return member
    return None


class _Salvager:
    def __init__(self, errors: list[StructuralError]) -> None:
        self.errors = errors
        self.hard = {e.path for e in errors if e.kind not in SIZE_ERRORS and not e.on_key}
        self.keyed = {e.path for e in errors if e.on_key}

    def build(self, ann: Any, value: Any, path: PathKey) -> Any:
        n = len(path)
        if not any(e.path[:n] == path for e in self.errors):
            try:
                return TypeAdapter(ann).validate_python(value, strict=True)
            except ValidationError:
                return Broken(path)
        if path in self.hard or path in self.keyed:
            return Broken(path)
        if value is None and type(None) in union_members(ann):
            return None
        member = _member_for(ann, value)
        origin = typing.get_origin(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            return self.model(member, value, path)
        if origin is dict:
            _, inner = typing.get_args(member)
            return {k: self.build(inner, v, (*path, k)) for k, v in value.items()}
        if origin is list:
            (inner,) = typing.get_args(member)
            return [self.build(inner, v, (*path, i)) for i, v in enumerate(value)]
        return Broken(path)

    def model(self, model: type[BaseModel], value: dict, path: PathKey) -> Partial:
        fields: dict[str, Any] = {}
        for name, info in model.model_fields.items():
            sub = (*path, name)
            if name in value:
                fields[name] = self.build(_field_annotation(model, name), value[name], sub)
            elif info.is_required():
                fields[name] = Broken(sub)
            else:
                fields[name] = info.get_default(call_default_factory=True)
        return Partial(model, fields)


def salvage(data: dict, errors: list[StructuralError]) -> Any:
    """The recipe as far as it is valid: a `Partial` Recipe whose broken parts refuse use."""
    built = _Salvager(errors).build(unwrap(Recipe), data, ())
    return built
