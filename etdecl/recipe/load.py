"""Read recipe YAML into plain data that remembers where every key and value came from.

The ruamel.yaml round-trip loader gives line and column for every node; we keep them in a side
table keyed by path so later checks can point at the exact place. `extends:` chains are merged
here, and `--set` overrides are applied last. Nothing in this package imports torch.
"""

from __future__ import annotations

import codecs
import copy
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .characters import encoding_problem, suspicious_characters, value_problems
from .errors import Location, Problem, RecipeError
from .indentation import locate_empty_values
from .yaml_errors import yaml_problem

PathKey = tuple[str | int, ...]
GALLERY_PREFIX = "gallery:"
MAX_RECIPE_BYTES = 2 * 1024 * 1024
"""A recipe is a few kilobytes; a bigger file is refused before it is parsed."""
MAX_VALUES = 100_000
"""Values a recipe may expand to. YAML aliases share nodes, so a small file can stand for a
huge tree (a "billion laughs"); copying it would take minutes and gigabytes."""
TAG_HINT = "recipes name registered components by 'type:'; they never construct objects"


@dataclass
class Tree:
    """Plain data plus where each path's key and value sit, and which source set each value."""

    data: Any
    keys: dict[PathKey, Location] = field(default_factory=dict)
    values: dict[PathKey, Location] = field(default_factory=dict)
    origins: dict[PathKey, str] = field(default_factory=dict)

    def where(self, path: PathKey) -> Location | None:
        """Best location for a path: its value, else its key, else the nearest parent."""
        path = tuple(path)
        while True:
            if path in self.values:
                return self.values[path]
            if path in self.keys:
                return self.keys[path]
            if not path:
                return None
            path = path[:-1]

    def key_where(self, path: PathKey) -> Location | None:
        path = tuple(path)
        return self.keys.get(path) or self.where(path)


def dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    return y


def _reader() -> YAML:
    """The round-trip loader (positions of every node) without its comment-keeping scanner:
    recipes are read, never written back, and gathering comments was a fifth of parsing."""
    from ruamel.yaml.scanner import Scanner

    y = _yaml()
    y.Scanner = Scanner
    return y


def _loc(file: str, lc: tuple[int, int] | None) -> Location:
    if lc is None:
        return Location(file)
    return Location(file, lc[0] + 1, lc[1] + 1)


def kind_of(node: Any) -> str:
    """A user-facing name for a YAML node's kind (not ruamel's class names)."""
    if isinstance(node, dict):
        return "mapping"
    if isinstance(node, (list, tuple)):
        return "list"
    return {str: "string", bool: "boolean", int: "integer", float: "number",
            type(None): "null"}.get(type(node), type(node).__name__)


def _lc(node: CommentedMap, key: Any, value: bool) -> tuple[int, int] | None:
    """Position of a key (or its value). Keys brought in by a `<<:` merge sit in the merged map."""
    if key in (node.lc.data or {}):  # no data at all when the map holds only a merge
        return node.lc.value(key) if value else node.lc.key(key)
    for source in getattr(node, "merge", None) or []:
        if isinstance(source, tuple):  # older ruamel: (position, map)
            source = source[1]
        if isinstance(source, CommentedMap) and key in source:
            return _lc(source, key, value)
    return None


def _describe_tag(node: Any) -> str | None:
    if isinstance(node, TaggedScalar):
        return str(node.tag.value if hasattr(node.tag, "value") else node.tag)
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", None)
    return str(value) if value else None


def short_tag(tag: str) -> str:
    """`tag:yaml.org,2002:python/name:os.system` → `!!python/name:os.system`, as it was written."""
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,") else tag


class _Frame:
    """One open mapping or sequence while walking parser events."""

    def __init__(self, kind: str, path: PathKey) -> None:
        self.kind, self.path = kind, path
        self.expect_key, self.key, self.index = True, "?", -1

    def child_path(self) -> tuple[PathKey, bool]:
        """Path of the node that starts now, and whether it is a mapping key."""
        if self.kind == "seq":
            self.index += 1
            return (*self.path, self.index), False
        if self.expect_key:
            return self.path, True
        return (*self.path, self.key), False

    def node_done(self) -> None:
        if self.kind == "map":
            self.expect_key = not self.expect_key


def explicit_tags(text: str, file: str) -> list[Problem]:
    """Every explicit YAML tag (`!!python/...`, `!!int`, `!custom`, `!`), from parser events.

    Runs before anything is constructed, so no tag ever reaches a constructor. Tags the YAML
    core schema resolves (`!!int "3"`, `!!binary`, `!!set`) are refused too: they would change
    a value's type behind the strict schema's back. Stops quietly at a syntax error, which the
    loader then reports.
    """
    problems: list[Problem] = []
    if "!" not in text:  # every tag starts with '!': most recipes need no second parse
        return problems
    stack: list[_Frame] = []
    try:
        for event in _yaml().parse(io.StringIO(text)):
            if isinstance(event, DocumentStartEvent):
                stack.clear()
                continue
            if isinstance(event, (MappingEndEvent, SequenceEndEvent)):
                stack.pop()
                if stack:
                    stack[-1].node_done()
                continue
            if not isinstance(event, NodeEvent):
                continue
            path, is_key = stack[-1].child_path() if stack else ((), False)
            tag = getattr(event, "tag", None)
            if tag:
                mark = event.start_mark
                problems.append(Problem(
                    f"YAML tags are not allowed in recipes (found '{short_tag(str(tag))}')",
                    loc=Location(file, mark.line + 1, mark.column + 1), path=dotted(path),
                    hint=TAG_HINT))
            if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                if is_key:
                    stack[-1].key = "?"
                kind = "map" if isinstance(event, MappingStartEvent) else "seq"
                stack.append(_Frame(kind, path))
                continue
            if is_key:
                stack[-1].key = str(event.value) if isinstance(event, ScalarEvent) else "?"
            if stack:
                stack[-1].node_done()
    except YAMLError:
        pass
    return problems


class _TooBig(Exception):
    def __init__(self, path: PathKey) -> None:
        self.path = path


def _plain(node: Any, file: str, path: PathKey, tree: Tree, problems: list[Problem],
           budget: list[int] | None = None) -> Any:
    """Copy a ruamel node into plain Python, recording positions and refusing explicit tags.

    `budget` counts the values still allowed (see MAX_VALUES); running out raises _TooBig.
    """
    if budget is None:
        budget = [MAX_VALUES]
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig(path)
    tag = _describe_tag(node)
    if tag is not None:
        problems.append(
            Problem(
                f"YAML tags are not allowed in recipes (found '{short_tag(tag)}')",
                loc=tree.values.get(path) or tree.keys.get(path) or Location(file),
                path=dotted(path),
                hint=TAG_HINT,
            )
        )
        return None
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key in node:
            if not isinstance(key, str):
                problems.append(
                    Problem(
                        "mapping keys must be strings",
                        loc=_loc(file, _lc(node, key, value=False)),
                        path=dotted(path),
                        found=f"{kind_of(key)} {key!r}",
                    )
                )
                continue
            sub = (*path, key)
            tree.keys[sub] = _loc(file, _lc(node, key, value=False))
            tree.values[sub] = _loc(file, _lc(node, key, value=True))
            tree.origins[sub] = file
            out[key] = _plain(node[key], file, sub, tree, problems, budget)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, item in enumerate(node):
            sub = (*path, i)
            tree.values[sub] = _loc(file, node.lc.item(i))
            tree.origins[sub] = file
            items.append(_plain(item, file, sub, tree, problems, budget))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _document_start(text: str, index: int, file: str) -> Location:
    """Where the index-th (0-based) YAML document of a stream starts."""
    seen = -1
    for event in _yaml().parse(io.StringIO(text)):
        if isinstance(event, DocumentStartEvent):
            seen += 1
            if seen == index:
                return Location(file, event.start_mark.line + 1, event.start_mark.column + 1)
    return Location(file, 1, 1)


def _first_complex_key(text: str) -> Any:
    """Start mark of the first mapping key that is not a scalar, from the composed node graph."""
    todo = []
    try:  # documents up to a later syntax error still count
        for root in _yaml().compose_all(io.StringIO(text)):
            todo.append(root)
    except Exception:  # noqa: BLE001 - only a better location is at stake
        pass
    marks, seen = [], set()
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen:  # aliases may share (or nest) nodes
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if not isinstance(key, ScalarNode):
                    marks.append(key.start_mark)
                todo += [key, value]
        elif isinstance(node, SequenceNode):
            todo += node.value
    return min(marks, key=lambda m: (m.line, m.column)) if marks else None


_PARSED: dict[tuple[str, str], Tree] = {}
"""Trees already parsed in this process, by (file as shown, text): a parent recipe that many
recipes extend (`extends: quickstart.yaml`) is parsed once per `validate` run, not once each."""


def parse_text(text: str, file: str) -> Tree:
    """Parse one YAML document. Raises RecipeError with located problems. A text parsed before
    in this process comes back as a fresh copy of its tree (callers merge into trees)."""
    done = _PARSED.get((file, text))
    if done is None:
        done = _PARSED[(file, text)] = _parse_text(text, file)
    return Tree(copy.deepcopy(done.data), dict(done.keys), dict(done.values), dict(done.origins))


def _parse_text(text: str, file: str) -> Tree:
    tree = Tree(data=None)
    unseen = suspicious_characters(text, file)
    if unseen:  # they make YAML read something else than is shown: name them, not the effects
        raise RecipeError(unseen)
    tags = explicit_tags(text, file)
    if tags:
        raise RecipeError(tags)
    try:
        docs = list(_reader().load_all(io.StringIO(text)))
    except YAMLError as err:
        raise RecipeError([yaml_problem(err, file, text)]) from None
    except Exception as err:  # ruamel raises a few non-YAMLError types on odd input
        key = _first_complex_key(text)
        if key is not None:  # e.g. `? a: {b: 1}`: ruamel cannot hash the mapping it built
            raise RecipeError([Problem("mapping keys must be strings",
                                       loc=Location(file, key.line + 1, key.column + 1),
                                       found="a mapping or list used as a key")]) from None
        raise RecipeError([Problem(f"YAML error: {err}", loc=Location(file))]) from None
    if len(docs) > 1:
        raise RecipeError([Problem("a recipe file must hold a single YAML document",
                                   loc=_document_start(text, 1, file),
                                   found=f"{len(docs)} documents",
                                   hint="remove the second '---' or split the file")])
    doc = docs[0] if docs else None
    if doc is None:
        raise RecipeError([Problem("the recipe is empty", loc=Location(file, 1, 1),
                                   expected="a mapping with at least 'etdecl: 1'")])
    if not isinstance(doc, CommentedMap):
        lc = getattr(doc, "lc", None)
        start = (lc.line, lc.col) if lc is not None and lc.line is not None else None
        raise RecipeError([Problem("a recipe must be a mapping at the top level",
                                   loc=_loc(file, start or (0, 0)), found=kind_of(doc))])
    problems: list[Problem] = []
    tree.values[()] = Location(file, 1, 1)
    try:
        tree.data = _plain(doc, file, (), tree, problems)
    except _TooBig as big:
        raise RecipeError([Problem(
            f"the recipe expands to more than {MAX_VALUES} values",
            loc=tree.key_where(big.path[:1]) or Location(file, 1, 1), path=dotted(big.path[:1]),
            hint="YAML aliases (*name) repeat whole subtrees; a recipe needs far fewer")]) from None
    locate_empty_values(tree, text)
    problems += value_problems(tree.data, tree.keys, tree.where, dotted, text)
    if problems:
        raise RecipeError(problems)
    return tree


def read_source(path: Path, shown: str) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_RECIPE_BYTES and path.is_file():
            raise RecipeError([Problem("recipe file is too large", loc=Location(shown),
                                       expected=f"at most {MAX_RECIPE_BYTES} bytes",
                                       found=f"{size} bytes")])
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RecipeError([Problem("recipe file not found", loc=Location(shown))]) from None
    except IsADirectoryError:
        raise RecipeError([Problem("expected a recipe file, got a directory",
                                   loc=Location(shown))]) from None
    except OSError as err:
        raise RecipeError([Problem(f"cannot read recipe: {err.strerror}",
                                   loc=Location(shown))]) from None
    wrong = encoding_problem(raw, shown)
    if wrong is not None:
        raise RecipeError([wrong])
    raw = raw.removeprefix(codecs.BOM_UTF8)  # a UTF-8 byte-order mark is allowed and dropped
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise RecipeError([Problem("recipe is not valid UTF-8", loc=Location(shown, line, col),
                                   found=f"byte 0x{raw[err.start]:02x}")]) from None


def show_path(path: Path) -> str:
    """Paths in messages are relative to the working directory when that is shorter."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
