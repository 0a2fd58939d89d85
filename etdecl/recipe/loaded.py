"""A checked recipe with its merged tree, file and fingerprint: what every stage after
`validate` works from. Its own module, so checks, data and the compiler depend on it without
depending on the validation pipeline (and the pipeline on them)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import Location, Problem
from .load import PathKey, Tree
from .resolve import source_file
from .schema import Recipe


@dataclass
class LoadedRecipe:
    """A checked recipe with its merged tree (positions, origins), source file and fingerprint."""

    recipe: Recipe
    tree: Tree
    file: Path
    fingerprint: str
    warnings: list[Problem] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)

    def where(self, *path: str | int) -> Location | None:
        return self.tree.where(tuple(path))

    def origin_of(self, path: PathKey) -> str:
        """Where a value came from: `file:line`, `--set k=v`, or `default`."""
        src = self.tree.origins.get(tuple(path))
        if src is None:
            return "default"
        loc = self.tree.values.get(tuple(path))
        if src.startswith("--set") or loc is None or not loc.line:
            return src
        return f"{src}:{loc.line}"

    def origin_dir(self, *path: str | int) -> Path:
        """Directory of the file that set this value (for relative paths), else the recipe's."""
        origin = self.tree.origins.get(tuple(path), "")
        if origin and not origin.startswith("--set"):
            return source_file(origin).resolve().parent
        if origin.startswith("--set"):
            return Path.cwd()
        return self.file.resolve().parent


def fingerprint(recipe: Recipe) -> str:
    """sha256 of the canonical resolved recipe (defaults filled, keys sorted)."""
    canonical = json.dumps(canonical_dict(recipe), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def canonical_dict(recipe: Recipe) -> dict[str, Any]:
    return recipe.model_dump(mode="json", exclude={"extends"})
