"""Data paths in recipes: environment variables expand, relative paths follow the recipe file."""

from __future__ import annotations

import os
import re
from pathlib import Path

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_vars(text: str) -> str:
    """Expand `${VAR}` and `${VAR:-default}`; an unset VAR without default raises KeyError."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        value = os.environ.get(name)
        if value:
            return value
        if default is not None:
            return default
        raise KeyError(name)

    return _VAR.sub(sub, text)


def resolve_data_path(text: str, base: Path) -> Path:
    path = Path(expand_vars(text)).expanduser()
    return path if path.is_absolute() else (base / path)
