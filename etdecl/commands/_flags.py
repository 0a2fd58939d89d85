"""Help text for flags: a flag takes no value, so `--help` shows no `<bool>` placeholder.

Typer 0.29 prints the value type after every option, flags included (`--resume <bool>`), which
reads as if `--resume true` were expected. `hide_flag_types` blanks the type column for flags
only; every other option keeps its `<int>`, `<path>`, `<text|json|github>`.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

_original = TyperOption.display_type_rich


def _display_type_rich(self: TyperOption, ctx: Any) -> str | None:
    return None if self.is_flag else _original(self, ctx)


def hide_flag_types() -> None:
    """Install the flag-aware type column (idempotent)."""
    TyperOption.display_type_rich = _display_type_rich  # type: ignore[method-assign]
