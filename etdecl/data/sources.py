"""Where a recipe's data split lives on disk (see `recipe.datasets.locate`), as a DataError."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..datafiles.readers import DataError
from ..recipe.datasets import MAIN, DatasetView, SourceError, datasets
from ..recipe.datasets import locate as locate_source

if TYPE_CHECKING:
    from ..recipe.loaded import LoadedRecipe


def locate(loaded: LoadedRecipe, split: str, view: DatasetView | None = None) -> tuple[Path, str]:
    """(file path, name to show in messages) of a split of a dataset (default: the only one).
    Raises DataError when unresolvable."""
    view = view or datasets(loaded.recipe).get(MAIN) or next(iter(datasets(loaded.recipe).values()))
    try:
        return locate_source(loaded, view, split)
    except SourceError as err:
        raise DataError(err.shown, 0, err.message) from None
