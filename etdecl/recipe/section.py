"""The base of every recipe section, and the name pattern of user-named entries."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$", max_length=64)]


class Section(BaseModel):
    """Base of every recipe section: unknown keys are errors, values are immutable once read."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True, defer_build=True
    )
