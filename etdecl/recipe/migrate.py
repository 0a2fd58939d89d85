"""Recipe format versions and the steps that upgrade an old recipe to the current one.

Each step is a function registered with `@migration(from_version=N)`: it edits the ruamel
round-trip document in place (so comments, key order and quoting survive) and returns one line
per change it made. `migrate_text` runs the steps in order from the recipe's version to
`CURRENT`. Nothing here imports torch.

Version 0 is the pre-release format of the design sketch: no `etdecl:` key (or `etdecl: 0`),
and the field mapping written inline in each data source
(`data: {train: {path: ..., text: text, label: label}}`). Version 1 adds `etdecl: 1` and moves
the mapping to `data.fields`, shared by train and dev.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from .errors import Location, Problem, RecipeError
from .load import parse_text
from .schema import FORMAT_VERSION

CURRENT = FORMAT_VERSION
FIELD_KEYS = ("text", "text_pair", "label", "domain")
"""Keys that version 0 wrote inside a data source and version 1 keeps in `data.fields`."""
SPLITS = ("train", "dev")
FIELD_DEFAULTS: dict[str, str | None] = {"text": "text", "text_pair": None, "label": "label",
                                         "domain": None}

Step = Callable[[CommentedMap, str], list[str]]


@dataclass(frozen=True)
class Migration:
    from_version: int
    to_version: int
    summary: str
    apply: Step


MIGRATIONS: dict[int, Migration] = {}


def migration(from_version: int, summary: str) -> Callable[[Step], Step]:
    """Register a step that upgrades a recipe from `from_version` to `from_version + 1`."""

    def deco(fn: Step) -> Step:
        if from_version in MIGRATIONS:
            raise ValueError(f"two migrations from version {from_version}")
        MIGRATIONS[from_version] = Migration(from_version, from_version + 1, summary, fn)
        return fn

    return deco


# ── versions ─────────────────────────────────────────────────────────────────────────────────


def inline_fields(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(split, key) for every field mapping written inside a data source (the version-0 way)."""
    data = doc.get("data")
    found: list[tuple[str, str]] = []
    if not isinstance(data, Mapping):
        return found
    for split in SPLITS:
        source = data.get(split)
        if isinstance(source, Mapping):
            found.extend((split, key) for key in FIELD_KEYS if key in source)
    return found


def recipe_version(doc: Mapping[str, Any]) -> int | None:
    """The format version a recipe file is written in; None when `etdecl:` is not a number.

    A file without `etdecl:` is version 0, unless it extends another recipe and has nothing of
    version 0 in it: such a child inherits the version of the recipe it extends.
    """
    if "etdecl" not in doc:
        if "extends" in doc and not inline_fields(doc):
            return CURRENT
        return 0
    value = doc["etdecl"]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def old_format_problem(doc: Mapping[str, Any], where: Callable[[tuple], Location | None],
                       file: str) -> Problem | None:
    """One located problem when a (merged) recipe is written in a format older than CURRENT."""
    inline = inline_fields(doc)
    version = doc.get("etdecl", None)
    old_version = "etdecl" in doc and isinstance(version, int) and not isinstance(version, bool) \
        and 0 <= version < CURRENT
    if not inline and not old_version:
        return None
    if inline:
        split, key = inline[0]
        loc = where(("data", split, key))
        detail = f"the field mapping is written inside data.{split} ('{key}: ...')"
    else:
        loc = where(("etdecl",))
        detail = f"it says etdecl: {version}"
    shown = loc.file if loc is not None else file
    return Problem(f"this recipe is in an old format (version 0): {detail}",
                   loc=loc or Location(file, 1, 1), path=f"data.{split}.{key}" if inline
                   else "etdecl", expected=f"format version {CURRENT}",
                   hint=f"run 'etdecl migrate {shown}' to upgrade it (comments and order are kept)")


# ── comments ─────────────────────────────────────────────────────────────────────────────────
# ruamel keeps the comment after a key's value, and any comment or blank lines below it, in one
# token. Moving a key must split that token: the end-of-line part travels with the key, the
# lines below stay where they are.


def _post(cm: CommentedMap, key: Any) -> CommentToken | None:
    entry = cm.ca.items.get(key)
    return entry[2] if entry and len(entry) > 2 else None


def _split(token: CommentToken | None) -> tuple[str, str]:
    """(end-of-line part, the lines below) of a post-value comment token."""
    if token is None:
        return "", ""
    first, nl, rest = token.value.partition("\n")
    if first.lstrip(" ").startswith("#"):
        return first + nl, rest
    return "", rest  # no end-of-line comment: the first newline ends the key's own line


def _set_post(cm: CommentedMap, key: Any, eol: str, below: str = "",
              like: CommentToken | None = None) -> None:
    """Set what follows `key`'s value: an end-of-line comment and the lines below it."""
    if not eol and not below:
        entry = cm.ca.items.get(key)
        if entry and len(entry) > 2:
            entry[2] = None
            if not any(entry):
                del cm.ca.items[key]
        return
    text = eol or "\n"
    if not text.endswith("\n"):
        text += "\n"
    mark = like.start_mark if like is not None and eol else CommentMark(0)
    entry = cm.ca.items.setdefault(key, [None, None, None, None])
    entry[2] = CommentToken(text + below, mark, None)


def _append_below(cm: CommentedMap, key: Any, lines: str) -> None:
    """Add comment/blank lines below `key`'s line, keeping its own end-of-line comment."""
    if lines:
        token = _post(cm, key)
        eol, below = _split(token)
        _set_post(cm, key, eol, below + lines, token)


# ── 0 → 1 ────────────────────────────────────────────────────────────────────────────────────


def _located(cm: CommentedMap, key: str, file: str) -> Location:
    try:
        line, col = cm.lc.key(key)
        return Location(file, line + 1, col + 1)
    except (KeyError, TypeError, AttributeError):
        return Location(file, 1, 1)


@migration(from_version=0, summary="add 'etdecl: 1'; move inline field keys into data.fields")
def _v0_to_v1(doc: CommentedMap, file: str) -> list[str]:
    changes: list[str] = []
    if "etdecl" in doc:
        doc["etdecl"] = 1
        changes.append("etdecl: 0 -> 1")
    else:
        doc.insert(0, "etdecl", 1)
        changes.append("added 'etdecl: 1' at the top")
    data = doc.get("data")
    if not isinstance(data, CommentedMap):
        return changes
    sources = [(s, data[s]) for s in SPLITS if isinstance(data.get(s), CommentedMap)]
    if not any(k in src for _, src in sources for k in FIELD_KEYS):
        return changes
    existing = data.get("fields")
    if existing is not None and not isinstance(existing, CommentedMap):
        raise RecipeError([Problem("cannot migrate: data.fields is not a mapping",
                                   loc=_located(data, "fields", file), path="data.fields")])
    effective: dict[str, Any] = {**FIELD_DEFAULTS, **(existing or {})}
    said_by = {key: "data.fields" for key in existing or {}}
    problems: list[Problem] = []
    for split, src in sources:  # train first: its mapping wins, a differing dev one is an error
        for key in FIELD_KEYS:
            if key not in src:
                continue
            value = src[key]
            if split == "train" and key not in said_by:
                effective[key] = value
                said_by[key] = "data.train"
            elif value != effective[key]:
                other = said_by.get(key, "the default")
                problems.append(Problem(
                    f"cannot migrate: data.{split} maps '{key}' to {value!r}, but "
                    f"{other} maps it to {effective[key]!r}",
                    loc=_located(src, key, file), path=f"data.{split}.{key}",
                    expected=f"{effective[key]!r}: format 1 has one field mapping for all splits",
                    hint="make the data files use the same field names (or set data.fields), "
                         "then migrate"))
    if problems:
        raise RecipeError(problems)
    fields = existing if existing is not None else CommentedMap()
    flow = all(src.fa.flow_style() for _, src in sources)
    last_split = sources[-1][0]
    tail = ""  # lines that stood below the last source: they go below the new data.fields
    for split, src in sources:
        keys = list(src)
        for key in FIELD_KEYS:
            if key not in src:
                continue
            token = _post(src, key)
            eol, below = _split(token)
            position = keys.index(key)
            src.pop(key)
            keys.remove(key)
            moved = split == "train" and key not in fields
            if moved:
                fields[key] = effective[key]
                if eol:
                    _set_post(fields, key, eol, "", token)
            if below and position == len(keys) and split == last_split and existing is None:
                tail += below
            elif below and keys:
                _append_below(src, keys[max(position, 1) - 1], below)
            changes.append(f"data.{split}.{key} -> data.fields.{key}" if moved else
                           f"removed data.{split}.{key} (same as data.fields.{key})")
    if existing is None and len(fields):
        if flow:
            fields.fa.set_flow_style()
        order = list(data)
        after = max(order.index(s) for s, _ in sources)
        prev = order[after]
        token = _post(data, prev)
        eol, below = _split(token)
        data.insert(after + 1, "fields", fields)
        _set_post(data, prev, eol, "", token)
        tail = below + tail
        if tail:
            if flow:
                _set_post(data, "fields", "", tail)
            else:
                _append_below(fields, list(fields)[-1], tail)
    return changes


# ── driver ───────────────────────────────────────────────────────────────────────────────────


@dataclass
class MigrationResult:
    file: str
    from_version: int
    to_version: int
    text: str
    changes: list[str] = field(default_factory=list)

    @property
    def needed(self) -> bool:
        return self.from_version < self.to_version


_KEY_LINE = re.compile(r"^( *)[^\s#-][^:#]*:\s*(#.*)?$")
_ITEM_LINE = re.compile(r"^( *)- ")


def guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as the file writes its block nodes."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    mapping = sequence = offset = None
    for above, below in zip(lines, lines[1:], strict=False):
        m = _KEY_LINE.match(above)
        if not m:
            continue
        depth = len(m.group(1))
        item = _ITEM_LINE.match(below)
        inner = len(below) - len(below.lstrip(" "))
        if item and offset is None and inner >= depth:
            offset = inner - depth
            sequence = offset + 2
        elif not item and mapping is None and inner > depth:
            mapping = inner - depth
    mapping = mapping or 2
    if sequence is None:
        sequence, offset = mapping, 0
    return mapping, max(sequence, (offset or 0) + 2), offset or 0


def yaml_round_trip(text: str) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    mapping, sequence, offset = guess_indent(text)
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    return y


def migrate_text(text: str, file: str) -> MigrationResult:
    """Upgrade one recipe's text to the current format. Raises RecipeError, located."""
    tree = parse_text(text, file)  # YAML errors and tags are refused before any editing
    version = recipe_version(tree.data)
    if version is None:
        raise RecipeError([Problem("cannot migrate: 'etdecl' is not a format version",
                                   loc=tree.where(("etdecl",)), path="etdecl",
                                   expected=f"a whole number from 0 to {CURRENT}")])
    if version > CURRENT:
        raise RecipeError([Problem(f"this recipe is format version {version}, newer than this "
                                   f"etdecl (version {CURRENT})", loc=tree.where(("etdecl",)),
                                   path="etdecl", hint="upgrade etdecl to read it")])
    if version == CURRENT:
        return MigrationResult(file, version, CURRENT, text)
    y = yaml_round_trip(text)
    doc = y.load(io.StringIO(text))
    changes: list[str] = []
    at = version
    while at < CURRENT:
        step = MIGRATIONS[at]
        changes.extend(step.apply(doc, file))
        at = step.to_version
    out = io.StringIO()
    y.dump(doc, out)
    new = out.getvalue()
    parse_text(new, file)  # the result must read back
    return MigrationResult(file, version, CURRENT, new, changes)
