"""The recipe gallery: the recipes shipped in `recipes/`, listed, found by name and copied.

A copy either keeps its `extends:` (rewritten so it still resolves from the new place: a
neighbour in the gallery becomes `gallery:NAME`) or is resolved into one self-contained file.
Relative data and model paths are rebased onto the new place too, so the copy reads the same
files as the original. Torch-free.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .aliases import is_alias_like
from .errors import RecipeError, did_you_mean
from .load import GALLERY_PREFIX, PathKey, Tree, parse_text, read_source, show_path
from .resolve import gallery_dir, load_tree, source_file

SCHEMA_LINE = re.compile(r"^(#\s*yaml-language-server:\s*\$schema=)(\S+)", re.MULTILINE)
_LEADING_VAR = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}(.*)$", re.DOTALL)


@dataclass
class Entry:
    """One gallery recipe as `etdecl recipes list` shows it."""

    name: str
    """What `gallery:NAME`, `recipes show NAME` and `recipes init NAME` take (the file stem)."""
    path: Path
    description: str
    extends: list[str]
    error: str | None = None


def _files() -> list[Path]:
    root = gallery_dir()
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir()
                   if p.suffix in (".yaml", ".yml") and not p.name.startswith("_") and p.is_file()),
                  key=lambda p: p.stem)


def entries() -> list[Entry]:
    """Every recipe in the gallery (partials, `_name.yaml`, left out), with its description."""
    out = []
    for path in _files():
        shown = show_path(path)
        try:
            own = parse_text(read_source(path, shown), shown).data
        except RecipeError as err:
            out.append(Entry(path.stem, path, "", [], err.problems[0].render()))
            continue
        raw = own.get("extends")
        extends = [raw] if isinstance(raw, str) else [x for x in raw or [] if isinstance(x, str)]
        description = own.get("description")
        error = None
        if not isinstance(description, str) or not description:
            try:
                description = load_tree(path).data.get("description")
            except RecipeError as err:
                error = err.problems[0].render()
        out.append(Entry(path.stem, path, description if isinstance(description, str) else "",
                         extends, error))
    return out


def find(name: str) -> Path:
    """The gallery file for NAME (`quickstart`, `quickstart.yaml` or `gallery:quickstart`)."""
    stem = name.removeprefix(GALLERY_PREFIX)
    for suffix in (".yaml", ".yml"):
        stem = stem.removesuffix(suffix)
    root = gallery_dir()
    for suffix in (".yaml", ".yml"):
        path = root / f"{stem}{suffix}"
        if "/" not in stem and "\\" not in stem and path.is_file():
            return path
    names = [p.stem for p in _files()]
    hint = did_you_mean(stem, names)
    listing = ", ".join(names) or "none"
    raise LookupError(f"no gallery recipe named '{stem}'" + (f"; {hint}" if hint else "")
                      + f" (the gallery has: {listing})")


# ── rebasing relative paths ──────────────────────────────────────────────────────────────────


def _relative(target: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(target, start)).as_posix()
    except ValueError:  # another drive (Windows): only an absolute path works
        return target.as_posix()


def rebase_path(text: str, old_dir: Path, new_dir: Path) -> str:
    """A path written relative to `old_dir`, rewritten to mean the same file from `new_dir`.

    Absolute paths stay; `${VAR:-default}/rest` keeps the variable and rebases its default.
    """
    m = _LEADING_VAR.match(text)
    if m:
        name, default, rest = m.groups()
        if default is None or not default or Path(default).expanduser().is_absolute():
            return text
        return f"${{{name}:-{rebase_path(default, old_dir, new_dir)}}}{rest}"
    if "$" in text or text.startswith("~") or Path(text).is_absolute():
        return text
    return _relative(old_dir.resolve() / text, new_dir.resolve())


def rebase_extends(target: str, old_dir: Path, new_dir: Path) -> str:
    """An `extends:` entry that still resolves from `new_dir`; gallery neighbours by name."""
    if target.startswith(GALLERY_PREFIX) or Path(target).is_absolute():
        return target
    full = (old_dir / target).resolve()
    try:
        inside = full.relative_to(gallery_dir().resolve())
    except ValueError:
        return _relative(full, new_dir.resolve())
    stem = inside.as_posix()
    return GALLERY_PREFIX + (stem[:-5] if stem.endswith(".yaml") else stem)


def _path_keys(data: Any) -> Iterator[tuple[PathKey, str]]:
    """(path, kind) of every value that names a file relative to the recipe."""
    if not isinstance(data, dict):
        return
    sources = data.get("data")
    if isinstance(sources, dict):
        for split in ("train", "dev"):
            src = sources.get(split)
            if isinstance(src, dict) and isinstance(src.get("path"), str):
                yield ("data", split, "path"), "data"
        sets = sources.get("sets")
        for name, ds in (sets.items() if isinstance(sets, dict) else ()):
            for split in ("train", "dev"):
                src = ds.get(split) if isinstance(ds, dict) else None
                if isinstance(src, dict) and isinstance(src.get("path"), str):
                    yield ("data", "sets", name, split, "path"), "data"
    train = data.get("train")
    if isinstance(train, dict) and isinstance(train.get("init_from"), str):
        yield ("train", "init_from"), "run"
    encoders = data.get("encoders")
    if isinstance(encoders, dict):
        for name, enc in encoders.items():
            if not isinstance(enc, dict):
                continue
            for key in ("model", "tokenizer"):
                value = enc.get(key)
                if isinstance(value, str) and not is_alias_like(value):
                    yield ("encoders", name, key), "model"


def _get(node: Any, path: PathKey) -> Any:
    for part in path:
        node = node[part]
    return node


def _set(node: Any, path: PathKey, value: Any) -> None:
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def schema_target(new_dir: Path) -> str:
    """What a `$schema` line written into `new_dir` should say: the schema file shipped with
    etdecl (in a wheel or a checkout), relative so it resolves offline; its `$id` only when
    this etdecl has no schema file."""
    from .jsonschema import installed_schema
    from .schema import SCHEMA_ID

    found = installed_schema()
    return _relative(found.resolve(), new_dir.resolve()) if found else SCHEMA_ID


def schema_line(new_dir: Path) -> str:
    return f"# yaml-language-server: $schema={schema_target(new_dir)}"


def _schema_comment(text: str, old_dir: Path, new_dir: Path) -> str:
    def sub(m: re.Match[str]) -> str:
        target = m.group(2)
        if "://" in target:
            return m.group(0)
        full = (old_dir / target).resolve()
        if full.is_file():
            return m.group(1) + _relative(full, new_dir.resolve())
        return m.group(1) + schema_target(new_dir)

    return SCHEMA_LINE.sub(sub, text)


# ── copying ──────────────────────────────────────────────────────────────────────────────────


def copy_keeping_extends(src: Path, dest: Path) -> str:
    """The text of `src` rewritten to work from `dest`: comments and order kept."""
    from .migrate import yaml_round_trip

    text = read_source(src, show_path(src))
    parse_text(text, show_path(src))  # refuse anything the loader refuses
    old_dir, new_dir = src.resolve().parent, dest.resolve().parent
    y = yaml_round_trip(text)
    doc = y.load(io.StringIO(text))
    changed = False
    raw = doc.get("extends")
    if isinstance(raw, str):
        new = rebase_extends(raw, old_dir, new_dir)
        if new != raw:
            doc["extends"], changed = new, True
    elif isinstance(raw, list):
        for i, item in enumerate(raw):
            if isinstance(item, str):
                new = rebase_extends(item, old_dir, new_dir)
                if new != item:
                    raw[i], changed = new, True
    for path, _ in list(_path_keys(doc)):
        value = _get(doc, path)
        new = rebase_path(value, old_dir, new_dir)
        if new != value:
            _set(doc, path, type(value)(new) if isinstance(value, str) else new)
            changed = True
    if changed:
        out = io.StringIO()
        y.dump(doc, out)
        text = out.getvalue()
    return _schema_comment(text, old_dir, new_dir)


def _origin_dir(tree: Tree, path: PathKey, fallback: Path) -> Path:
    origin = tree.origins.get(path)
    if origin and not origin.startswith("--set"):
        return source_file(origin).resolve().parent
    return fallback


def _tidy(node: Any, top: bool = False) -> Any:
    """Plain data → ruamel nodes: short leaf mappings and lists of scalars on one line."""
    if isinstance(node, dict):
        m = CommentedMap()
        for key, value in node.items():
            m[key] = _tidy(value)
        leaf = node and all(not isinstance(v, (dict, list)) for v in node.values())
        if leaf and not top and len(node) <= 6 and len(repr(node)) <= 80:
            m.fa.set_flow_style()
        return m
    if isinstance(node, list):
        s = CommentedSeq(_tidy(v) for v in node)
        if all(not isinstance(v, (dict, list)) for v in node):
            s.fa.set_flow_style()
        return s
    return node


def _in_schema_order(node: Any, canonical: Any) -> Any:
    """The merged tree's keys in the order the schema declares them (the order `show` uses)."""
    if not isinstance(node, dict) or not isinstance(canonical, dict):
        return node
    order = {k: i for i, k in enumerate(canonical)}
    keys = sorted(node, key=lambda k: order.get(k, len(order)))
    return {k: _in_schema_order(node[k], canonical.get(k)) for k in keys}


def resolved_copy(src: Path, dest: Path, name: str) -> str:
    """The merged recipe (its `extends:` chain applied, defaults not filled) as one file."""
    tree = load_tree(src)
    data = dict(tree.data)
    data.pop("extends", None)
    new_dir = dest.resolve().parent
    for path, _ in list(_path_keys(data)):
        value = _get(data, path)
        _set(data, path, rebase_path(value, _origin_dir(tree, path, src.parent), new_dir))
    from .validate import canonical_dict, load_recipe

    ordered = _in_schema_order(data, canonical_dict(load_recipe(src, check_data=False).recipe))
    y = YAML()
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096
    out = io.StringIO()
    out.write(schema_line(new_dir) + "\n")  # merged, it is a whole recipe, even from a child
    out.write(f"# {GALLERY_PREFIX}{name} with its extends: chain resolved "
              f"(etdecl recipes init --resolve)\n")
    y.dump(_tidy(ordered, top=True), out)
    return out.getvalue()


def init(name: str, dest: Path, resolve: bool = False, force: bool = False) -> Path:
    """Copy gallery recipe NAME to `dest` (a file, or a folder to put NAME.yaml in)."""
    src = find(name)
    if dest.is_dir() or str(dest).endswith(("/", os.sep)):
        dest = dest / src.name
    if dest.exists() and not force:
        raise FileExistsError(f"{dest} exists; pass --force to overwrite it")
    text = resolved_copy(src, dest, src.stem) if resolve else copy_keeping_extends(src, dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")
    return dest
