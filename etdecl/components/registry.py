"""A registry per component kind: recipe `type:` name → builder. Torch-free.

Names are registered by explicit import lists (see `etdecl.compile.builders`), not as a side
effect of importing some module somewhere; registering a name twice is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ..recipe.errors import did_you_mean, one_of

B = TypeVar("B", bound=Callable[..., Any])


class Registry(Generic[B]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, B] = {}

    def register(self, name: str) -> Callable[[B], B]:
        def deco(fn: B) -> B:
            if name in self._builders:
                raise ValueError(
                    f"{self.kind} type '{name}' is registered twice: "
                    f"{self._builders[name].__qualname__} and {fn.__qualname__}"
                )
            self._builders[name] = fn
            return fn

        return deco

    def get(self, name: str) -> B:
        if name not in self._builders:
            hint = did_you_mean(name, self._builders) or ""
            raise KeyError(
                f"unknown {self.kind} type '{name}'; expected "
                f"{one_of(self._builders)}. {hint}".strip()
            )
        return self._builders[name]

    def names(self) -> list[str]:
        return sorted(self._builders)
