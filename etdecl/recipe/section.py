"""The base of every recipe section, and the name pattern of user-named entries."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from .docstrings import attribute_docstrings

Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$", max_length=64)]


class Section(BaseModel):
    """Base of every recipe section: unknown keys are errors, values are immutable once read.

    Each field's description is the docstring under it (as pydantic's `use_attribute_docstrings`
    would read it, but with one source parse per module: see `docstrings.py`). Validators are
    built on first use (`defer_build`), so commands that never validate a recipe (`--help`)
    do not pay for them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        docs = attribute_docstrings(cls)
        for name, info in cls.__pydantic_fields__.items():
            if info.description is None and name in docs:
                info.description = docs[name]
