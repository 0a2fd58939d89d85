"""How a data value compares with the values a recipe lists (labels, `where` filters)."""

from __future__ import annotations


def as_text(value: object) -> str:
    """A data value as text: JSON booleans as YAML spells them (`true`, not `True`)."""
    return str(value).lower() if isinstance(value, bool) else str(value)
