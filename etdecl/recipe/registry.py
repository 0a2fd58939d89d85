"""Torch-free registries of the recipe's `type:` names: kind → {type name → config class}.

The recipe's discriminated unions (and so the JSON Schema and editor completion) are generated
from these, and the torch-side builders (`etdecl.components`, `etdecl.tasks`) register under
the same names; a test keeps the two in step. Built-ins are registered by the explicit import
list in `schema.py`, never as a side effect of importing something else.
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Union

from pydantic import Field

from .section import Section


class TypeRegistry:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: dict[str, type[Section]] = {}

    def register(self, cls: type[Section]) -> type[Section]:
        """Register a config class under the value of its `type: Literal[...]` field."""
        ann = cls.model_fields["type"].annotation
        (name,) = typing.get_args(ann)
        if name in self._classes:
            raise ValueError(f"{self.kind} type '{name}' is registered twice")
        self._classes[name] = cls
        return cls

    def names(self) -> list[str]:
        return list(self._classes)

    def get(self, name: str) -> type[Section]:
        return self._classes[name]

    def union(self) -> Any:
        """The `type:`-discriminated union of every registered class."""
        classes = tuple(self._classes.values())
        member = classes[0] if len(classes) == 1 else Union[classes]  # noqa: UP007
        return Annotated[member, Field(discriminator="type")]


ENCODER_TYPES = TypeRegistry("encoder")
HEAD_TYPES = TypeRegistry("head")
TOWER_TYPES = TypeRegistry("tower")
METHOD_TYPES = TypeRegistry("method")
SELECTOR_TYPES = TypeRegistry("selector")


def config_class(cfg: Any) -> type:
    """The config class of a section, also for the partial recipes `validate` salvages from a
    recipe with structural errors (which stand in for the class)."""
    model = getattr(cfg, "_model", None)
    return model if isinstance(model, type) else type(cfg)
