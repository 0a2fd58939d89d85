"""What a teacher looks like, read from files only (no torch, no transformers): its encoders'
shapes and vocabularies and its heads' types and labels, for `validate` and `plan`.

A teacher is one of
- a run directory (`source:` with `recipe.yaml`): its resolved recipe, read with the run's own
  folder as the base of relative model paths (its `from_teacher`/`layers` encoders count);
- an exported bundle (`source:` with `manifest.json`): the manifest's heads and encoders, each
  encoder's saved `encoders/<name>/config.json` and tokenizer folder `tokenizers/<key>/`;
- a bare pretrained encoder (`model:` an alias or folder): one hf encoder named
  `MODEL_ENCODER`, no heads.

A vocabulary fingerprint is a hash of the tokenizer's word pieces in id order, read from
`tokenizer.json` (WordPiece/BPE/Unigram), `vocab.txt` or `vocab.json`: two tokenizers with the
same fingerprint turn text into the same ids, which the teacher must read from the student's
batch.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .modelinfo import EncoderShape, _read_json, shape_from_config

MODEL_ENCODER = "encoder"
"""Name of the one encoder of a `model:` teacher."""


class TeacherSourceError(Exception):
    """A teacher whose files cannot be read as a run, a bundle or a model."""

    def __init__(self, message: str, expected: str | None = None, found: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.expected, self.found, self.hint = message, expected, found, hint


@dataclass(frozen=True)
class EncoderInfo:
    name: str
    type: str
    """`hf`, `textcnn`, `bilstm`."""
    shape: EncoderShape | None
    """hf encoders whose config can be read (depth after `layers:`)."""
    tokenizer: str
    """The tokenizer as shown in messages (alias, folder)."""
    vocab: str | None
    """Vocabulary fingerprint, None when it cannot be told here."""


@dataclass(frozen=True)
class HeadInfo:
    name: str
    type: str
    labels: tuple[str, ...] | None
    inputs: tuple[str, ...]
    token_level: bool = False


@dataclass(frozen=True)
class TeacherInfo:
    kind: str
    """`run`, `bundle` or `model`."""
    path: Path | None
    encoders: dict[str, EncoderInfo]
    heads: dict[str, HeadInfo] = field(default_factory=dict)

    def default_encoder(self) -> str | None:
        """Its only encoder, or the one its first head reads."""
        if len(self.encoders) == 1:
            return next(iter(self.encoders))
        for head in self.heads.values():
            for node in head.inputs:
                if node in self.encoders:
                    return node
            break
        return None


# ── vocabularies ─────────────────────────────────────────────────────────────────────────────

_VOCABS: dict[tuple[str, int, int], str | None] = {}


def _tokens(folder: Path) -> tuple[Path, list[str]] | None:
    tj = folder / "tokenizer.json"
    if tj.is_file():
        vocab = (_read_json(tj) or {}).get("model", {}).get("vocab")  # type: ignore[union-attr]
        if isinstance(vocab, dict):
            return tj, [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
        if isinstance(vocab, list):
            return tj, [v[0] if isinstance(v, list) else str(v) for v in vocab]
    txt = folder / "vocab.txt"
    if txt.is_file():
        lines = txt.read_text(encoding="utf-8").split("\n")
        return txt, lines[:-1] if lines and lines[-1] == "" else lines
    vj = folder / "vocab.json"
    if vj.is_file():
        vocab = _read_json(vj)
        if isinstance(vocab, dict):
            return vj, [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    return None


def vocab_fingerprint(folder: Path) -> str | None:
    """sha256 (16 hex digits) of a tokenizer folder's word pieces in id order, or None when the
    folder has no vocabulary file read here (e.g. only a sentencepiece model)."""
    found = _tokens(folder) if folder.is_dir() else None
    if found is None:
        return None
    file, tokens = found
    st = file.stat()
    key = (str(file), st.st_size, st.st_mtime_ns)
    if key not in _VOCABS:
        _VOCABS[key] = hashlib.sha256("\n".join(tokens).encode("utf-8")).hexdigest()[:16]
    return _VOCABS[key]


def tokenizer_vocab(name: str, base: Path) -> str | None:
    """Vocabulary fingerprint of a tokenizer alias or folder (relative to `base`), or None."""
    from .aliases import resolve_model

    try:
        folder = resolve_model(name, base, unpack=False)
    except LookupError:
        return None
    return vocab_fingerprint(folder)


# ── teachers ─────────────────────────────────────────────────────────────────────────────────


def teacher_path(lr: Any, name: str) -> Path:
    """A teacher's `source` resolved against the file that set it. KeyError for an unset
    `${VAR}` without default."""
    from .paths import resolve_data_path

    value = lr.recipe.teachers[name].source
    return Path(os.path.normpath(resolve_data_path(value, lr.origin_dir("teachers", name,
                                                                          "source"))))


def source_kind(path: Path) -> str:
    """'bundle', 'run', 'missing', or what else it is ('file', 'folder')."""
    from .check_init import init_source_kind

    return init_source_kind(path)


_INFOS: dict[tuple, TeacherInfo] = {}
_READING: set[str] = set()


def teacher_info(lr: Any, name: str) -> TeacherInfo | None:
    """What teacher `name` of a recipe looks like; None when its source does not exist yet.
    Raises TeacherSourceError for a source that is neither a run nor a bundle, or unreadable;
    KeyError for an unset `${VAR}`."""
    t = lr.recipe.teachers[name]
    if t.model is not None:
        return model_teacher(t.model, lr.origin_dir("teachers", name, "model"))
    if t.source is None:
        return None
    path = teacher_path(lr, name)
    kind = source_kind(path)
    if kind == "missing":
        return None
    if kind == "bundle":
        return bundle_teacher(path)
    if kind == "run":
        return run_teacher(path)
    raise TeacherSourceError("teacher source is neither a run directory nor an exported bundle",
                             expected="a folder with recipe.yaml (a run) or manifest.json "
                             "(a bundle)", found=f"a {kind}: {path}",
                             hint="point it at a finished run directory (e.g. runs/NAME) or "
                             "a bundle from `etdecl export`")


def model_teacher(model: str, base: Path) -> TeacherInfo:
    from .aliases import resolve_model
    from .modelinfo import model_config

    try:
        resolve_model(model, base, unpack=False)
    except LookupError as err:
        raise TeacherSourceError(str(err)) from None
    raw = model_config(model, base)
    shape = shape_from_config(raw) if raw is not None else None
    enc = EncoderInfo(MODEL_ENCODER, "hf", shape, model, tokenizer_vocab(model, base))
    return TeacherInfo("model", None, {MODEL_ENCODER: enc})


def _stamp(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def bundle_teacher(path: Path) -> TeacherInfo:
    key = ("bundle", *_stamp(path / "manifest.json"))
    if key in _INFOS:
        return _INFOS[key]
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        encoders: dict[str, EncoderInfo] = {}
        for name, entry in manifest.get("encoders", {}).items():
            kind = str(entry.get("type", "hf"))
            tok = path / str(entry.get("tokenizer", f"tokenizers/{name}"))
            shape = None
            if kind == "hf" and entry.get("config"):
                raw = _read_json(path / entry["config"])
                shape = shape_from_config(raw) if isinstance(raw, dict) else None
            encoders[name] = EncoderInfo(name, kind, shape, str(tok), vocab_fingerprint(tok))
        heads = {name: HeadInfo(name, str(h.get("type", "")),
                                tuple(h["labels"]) if h.get("labels") is not None else None,
                                tuple(h.get("inputs") or ()), str(h.get("type")) == "tag")
                 for name, h in manifest.get("heads", {}).items()}
    except (OSError, ValueError, AttributeError, TypeError, KeyError) as err:
        raise TeacherSourceError(f"teacher bundle cannot be read: {path}: {err}") from None
    _INFOS[key] = info = TeacherInfo("bundle", path, encoders, heads)
    return info


def run_teacher(path: Path) -> TeacherInfo:
    from .errors import RecipeError
    from .validate import load_recipe

    file = path / "recipe.yaml"
    key = ("run", *_stamp(file))
    if key in _INFOS:
        return _INFOS[key]
    if key[1] in _READING:
        raise TeacherSourceError(f"teacher run {path} learns from itself (a cycle of teachers)")
    _READING.add(key[1])
    try:
        try:
            loaded = load_recipe(file, check_data=False)
        except RecipeError as err:
            first = next((p for p in err.problems if p.severity == "error"), None)
            raise TeacherSourceError(f"the teacher run's recipe.yaml does not validate: "
                                     f"{first.render() if first else err}") from None
        info = recipe_teacher(loaded, path, "run")
    finally:
        _READING.discard(key[1])
    _INFOS[key] = info
    return info


def recipe_teacher(loaded: Any, path: Path, kind: str) -> TeacherInfo:
    """A teacher's encoders and heads from its (loaded) recipe."""
    from .modelinfo import encoder_shape
    from .registry import config_class

    recipe = loaded.recipe
    encoders: dict[str, EncoderInfo] = {}
    for name, enc in recipe.encoders.items():
        shape, vocab, tok = None, None, getattr(enc, "tokenizer", None) or ""
        if enc.type == "hf":
            shape = encoder_shape(enc, path, lr=loaded)
            if enc.from_teacher is not None:
                src = student_encoder_vocab(loaded, name)
                tok, vocab = src if src else (f"teacher '{enc.from_teacher}'", None)
            else:
                tok = enc.tokenizer or enc.model or ""
        if enc.type != "hf" or enc.from_teacher is None:
            vocab = tokenizer_vocab(tok, path) if tok else None
        encoders[name] = EncoderInfo(name, enc.type, shape, tok, vocab)
    heads = {}
    for name, head in recipe.heads.items():
        labels = getattr(head, "labels", None)
        heads[name] = HeadInfo(name, head.type, tuple(labels) if labels is not None else None,
                               tuple(head.inputs()), bool(config_class(head).TOKEN_LEVEL))
    return TeacherInfo(kind, path, encoders, heads)


def teacher_encoder(lr: Any, teacher: str) -> tuple[TeacherInfo, EncoderInfo] | None:
    """The teacher's encoder the representation objectives read (`teacher.encoder`, or its
    default), or None when it cannot be told here (missing source, unknown name)."""
    try:
        info = teacher_info(lr, teacher)
    except (TeacherSourceError, KeyError):
        return None
    if info is None:
        return None
    name = lr.recipe.teachers[teacher].encoder
    if info.kind == "model" or name is None:
        name = info.default_encoder()
    enc = info.encoders.get(name) if name else None
    return (info, enc) if enc is not None else None


def student_encoder_vocab(lr: Any, name: str) -> tuple[str, str | None] | None:
    """(tokenizer shown, vocabulary fingerprint) of a recipe's encoder; None when unknown."""
    enc = lr.recipe.encoders.get(name)
    if enc is None:
        return None
    if enc.type == "hf" and enc.from_teacher is not None:
        if enc.from_teacher not in lr.recipe.teachers:
            return None
        found = teacher_encoder(lr, enc.from_teacher)
        return (found[1].tokenizer, found[1].vocab) if found else None
    key = "tokenizer" if getattr(enc, "tokenizer", None) else "model"
    tok = getattr(enc, key, None)
    if not tok:
        return None
    return tok, tokenizer_vocab(tok, lr.origin_dir("encoders", name, key))
