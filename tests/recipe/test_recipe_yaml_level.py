"""YAML-level mistakes, as classes: every invisible or look-alike character, every byte-order
mark, every escape that makes a control character, every unclosed construct, every section
whose keys slipped to the wrong depth. Each is reported at its cause, by code point and column,
and no rendering ever prints a raw control character.

(test_recipe_malformed.py runs one fixture of each through the CLI in all output formats.)
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from etdecl.recipe.characters import INVISIBLE, QUOTES
from etdecl.recipe.errors import Problem, RecipeError, render_github, render_json
from etdecl.recipe.validate import load_recipe

TAIL = """\
encoders:
  plm: {type: hf, model: minilm-l6}
heads:
  cls: {type: classify, input: plm, labels: [neg, pos]}
"""
GOOD = "etdecl: 1\nname: t\ndata:\n  train: {path: train.jsonl}\n" + TAIL


def problems(tmp_path: Path, text: str | bytes, overrides: list[str] | None = None,
             ) -> list[Problem]:
    path = tmp_path / "recipe.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        load_recipe(path, overrides, check_data=False)
    return [p for p in info.value.problems if p.severity == "error"]


def where(p: Problem) -> tuple[int, int]:
    assert p.loc is not None, p.render()
    return p.loc.line, p.loc.col


def no_raw_controls(found: list[Problem]) -> None:
    """Text, JSON and GitHub renderings carry no control character but their own newlines."""
    for text in ("\n".join(p.render() for p in found), render_github(found),
                 render_json({"recipe.yaml": found}, {})):
        bad = [c for c in text if (ord(c) < 32 and c != "\n") or ord(c) == 127]
        assert not bad, repr(text)


# ── invisible and look-alike characters ─────────────────────────────────────────────────────

INVISIBLE_PLACES = {  # recipe text with X where the character goes → (line, col) of X
    "in-indentation": ("etdecl: 1\nname: t\ndata:\nX  train: {path: train.jsonl}\n" + TAIL,
                       (4, 1)),
    "in-key": ("etdecl: 1\nnaXme: t\ndata:\n  train: {path: train.jsonl}\n" + TAIL, (2, 3)),
    "after-colon": ("etdecl: 1\nname:Xt\ndata:\n  train: {path: train.jsonl}\n" + TAIL, (2, 6)),
    "in-value": ("etdecl: 1\nname: t\ndata:\n  train: {path: trX.jsonl}\n" + TAIL, (4, 19)),
}


@pytest.mark.parametrize("char", sorted(INVISIBLE), ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("place", sorted(INVISIBLE_PLACES))
def test_invisible_characters_are_named_by_code_point_and_column(
        tmp_path: Path, char: str, place: str) -> None:
    text, (line, col) = INVISIBLE_PLACES[place]
    [first, *_] = found = problems(tmp_path, text.replace("X", char))
    assert where(first) == (line, col), first.render()
    assert first.message == "invisible character in the recipe"
    assert f"U+{ord(char):04X}" in (first.found or "") and f"column {col}" in first.found
    assert char not in first.render()
    no_raw_controls(found)


def test_invisible_characters_in_comments_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(GOOD.replace("name: t", "name: t  # from a web\u00a0page\u200b"), "utf-8")
    assert load_recipe(path, check_data=False).recipe.name == "t"


def test_a_zero_width_joiner_inside_an_emoji_is_part_of_the_text(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(GOOD + "description: for \U0001f469\u200d\U0001f4bb people\n", "utf-8")
    assert "\u200d" in load_recipe(path, check_data=False).recipe.description


@pytest.mark.parametrize("value", ['"a\\_b"', '"a\\u200Bb"', '"\\uFEFFlabel"'])
def test_invisible_characters_written_as_escapes_are_refused_too(tmp_path: Path,
                                                                 value: str) -> None:
    text = GOOD.replace("labels: [neg, pos]", f"labels: [neg, {value}]")
    [first] = problems(tmp_path, text)
    assert first.message == "invisible character in a value" and first.path == "heads.cls.labels[1]"
    assert where(first) == (8, 51)
    assert "\\u" in (first.found or "")


@pytest.mark.parametrize("char", sorted(QUOTES), ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("place", ["value", "key-start", "key-end", "list-item"])
def test_typographic_quotes_used_as_quotes_are_named(tmp_path: Path, char: str,
                                                     place: str) -> None:
    text, spot = {
        "value": (GOOD.replace("name: t", f"name: {char}t{char}"), (2, 7)),
        "key-start": (GOOD.replace("name: t", f"{char}name: t"), (2, 1)),
        "key-end": (GOOD.replace("name: t", f"name{char}: t"), (2, 5)),
        "list-item": (GOOD.replace("[neg, pos]", f"[neg, {char}pos]"), (8, 51)),
    }[place]
    first = next(p for p in problems(tmp_path, text) if "typographic" in p.message)
    assert where(first) == spot, first.render()
    assert f"U+{ord(char):04X}" in (first.found or "")


def test_a_fullwidth_colon_is_named(tmp_path: Path) -> None:
    [first] = problems(tmp_path, GOOD.replace("name: t", "name\uff1a t"))
    assert where(first) == (2, 1) and "no ':' after its key" in first.message
    assert "U+FF1A (fullwidth colon) at column 5 looks like ':'" in (first.hint or "")


def test_curly_quotes_inside_text_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(GOOD + "description: “Best” model’s head, it’s fine\n", "utf-8")
    assert load_recipe(path, check_data=False).recipe.description.startswith("“Best”")


@pytest.mark.parametrize("indent", ["\t", "  \t", "\t  "])
@pytest.mark.parametrize("line", ["  train: {path: train.jsonl}", "  - x"])
def test_tabs_used_for_indentation_are_named(tmp_path: Path, indent: str, line: str) -> None:
    text = GOOD.replace("  train: {path: train.jsonl}", indent + line.lstrip())
    [first, *_] = problems(tmp_path, text)
    col = indent.index("\t") + 1
    assert where(first) == (4, col) and first.message == "a tab is used for indentation"
    assert "U+0009" in (first.found or "")
    no_raw_controls([first])


# ── encodings ───────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("codec,name,mark", [
    ("utf-16-le", "UTF-16 (little-endian)", codecs.BOM_UTF16_LE),
    ("utf-16-be", "UTF-16 (big-endian)", codecs.BOM_UTF16_BE),
    ("utf-32-le", "UTF-32 (little-endian)", codecs.BOM_UTF32_LE),
    ("utf-32-be", "UTF-32 (big-endian)", codecs.BOM_UTF32_BE),
])
def test_utf16_and_utf32_byte_order_marks_are_named(tmp_path: Path, codec: str, name: str,
                                                    mark: bytes) -> None:
    [first] = problems(tmp_path, mark + GOOD.encode(codec))
    assert where(first) == (1, 1)
    assert first.message == f"recipe is encoded as {name}, not UTF-8"
    assert first.found == "byte-order mark " + " ".join(f"{b:02X}" for b in mark)
    assert "save the file as UTF-8" in (first.hint or "")


@pytest.mark.parametrize("codec,name", [
    ("utf-16-le", "UTF-16 (little-endian)"), ("utf-16-be", "UTF-16 (big-endian)"),
    ("utf-32-le", "UTF-32 (little-endian)"), ("utf-32-be", "UTF-32 (big-endian)"),
])
def test_utf16_and_utf32_without_a_byte_order_mark_are_named(tmp_path: Path, codec: str,
                                                             name: str) -> None:
    [first] = problems(tmp_path, GOOD.encode(codec))
    assert where(first) == (1, 1) and first.message == f"recipe looks encoded as {name}, not UTF-8"


def test_utf8_byte_order_mark_keeps_working(tmp_path: Path) -> None:
    plain, marked = tmp_path / "plain.yaml", tmp_path / "marked.yaml"
    plain.write_text(GOOD, "utf-8")
    marked.write_bytes(codecs.BOM_UTF8 + GOOD.encode())
    assert (load_recipe(marked, check_data=False).fingerprint
            == load_recipe(plain, check_data=False).fingerprint)
    # and columns on line 1 do not count the mark
    [first] = problems(tmp_path, codecs.BOM_UTF8 + GOOD.replace("etdecl: 1", "etdecl: 2")
                       .encode())
    assert where(first) == (1, 9)


# ── escapes that make control characters ────────────────────────────────────────────────────

ESCAPES = {"\\t": "U+0009", "\\n": "U+000A", "\\r": "U+000D", "\\b": "U+0008", "\\f": "U+000C",
           "\\v": "U+000B", "\\a": "U+0007", "\\e": "U+001B", "\\0": "U+0000"}
PATHS = {  # where a path goes → (recipe, line)
    "data.train.path": (GOOD.replace("{path: train.jsonl}", '{path: "dir{E}x.jsonl"}'), 4),
    "train.output_dir": (GOOD + 'train:\n  output_dir: "runs{E}x"\n', 10),
    "encoders.plm.model": (GOOD.replace("model: minilm-l6", 'model: "C:{E}models"'), 6),
}


@pytest.mark.parametrize("escape", sorted(ESCAPES))
@pytest.mark.parametrize("path", sorted(PATHS))
def test_double_quote_escapes_in_paths_are_explained(tmp_path: Path, escape: str,
                                                     path: str) -> None:
    template, line = PATHS[path]
    text = template.replace("{E}", escape)
    [first, *_] = found = problems(tmp_path, text)
    col = text.splitlines()[line - 1].index(escape) + 1
    assert (first.path, where(first)) == (path, (line, col)), first.render()
    assert f"turns '{escape}' into the control character {ESCAPES[escape]}" in first.message
    assert "single quotes" in (first.hint or "") and "forward slashes" in first.hint
    no_raw_controls(found)


def test_escapes_in_free_text_and_in_single_quotes_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(GOOD.replace("{path: train.jsonl}", "{path: 'C:\\new\\train.jsonl'}")
                    + 'description: "two\\nlines"\n', "utf-8")
    loaded = load_recipe(path, check_data=False)
    assert loaded.recipe.description == "two\nlines"


def test_a_control_character_given_by_set_is_refused_at_the_override(tmp_path: Path) -> None:
    [first] = problems(tmp_path, GOOD, ['data.train.path="a\\tb.jsonl"'])
    assert first.loc is not None and first.loc.file.startswith("--set data.train.path")
    assert "U+0009" in first.message and first.found == "'a\\tb.jsonl'"
    no_raw_controls([first])


# ── scanner and parser errors: at the cause, with where the construct started ─────────────

UNCLOSED = {  # recipe text → (line, col) of the primary location, text the message must hold
    "flow-mapping": (GOOD.replace("{path: train.jsonl}", "{path: train.jsonl"), (4, 28),
                     "the '{' mapping opened at line 4, column 10 is not closed"),
    "flow-list": (GOOD.replace("[neg, pos]}", "[neg, pos}"), (8, 54),
                  "the '[' list opened at line 8, column 45 has an item out of place"),
    "flow-list-last-line": ("etdecl: 1\nname: t\ntrain: {epochs: [1, 2\n", (3, 22),
                            "the '[' list opened at line 3, column 17 is not closed"),
    "double-quote": (GOOD.replace("name: t", 'name: "t'), (2, 7),
                     "the quoted string is never closed"),
    "single-quote": (GOOD.replace("name: t", "name: 't"), (2, 7),
                     "the quoted string is never closed"),
    "key-without-colon": (GOOD.replace("name: t", "name t"), (2, 1),
                          "a line inside a mapping has no ':' after its key"),
    "key-between-levels": (GOOD.replace("encoders:\n  plm", "encoders:\n  plm: {type: hf}\n"
                                        " other"), (7, 2),
                           "wrong indentation: line 7 does not fit the mapping started at line"),
}


@pytest.mark.parametrize("case", sorted(UNCLOSED))
def test_syntax_errors_point_at_the_cause(tmp_path: Path, case: str) -> None:
    text, spot, message = UNCLOSED[case]
    [first] = problems(tmp_path, text)
    assert where(first) == spot, first.render()
    assert message in first.message, first.render()
    for leak in ("while parsing", "while scanning", "<block", "<stream"):
        assert leak not in first.render()


COLONS = {  # recipe text, (line, col), the quoted suggestion in the hint
    "description": (GOOD + "description: sentiment: quick\n", (9, 23),
                    'description: "sentiment: quick"'),
    "name": (GOOD.replace("name: t", "name: t: u"), (2, 8), 'name: "t: u"'),
    "nested": (GOOD.replace("model: minilm-l6}", "model: minilm-l6}\n  other:\n"
                            "    model: a: b"), (8, 13), 'model: "a: b"'),
    "flow": (GOOD.replace("{path: train.jsonl}", "{path: a: b.jsonl}"), (4, 18),
             "path: 'a: b.jsonl'"),
}


@pytest.mark.parametrize("case", sorted(COLONS))
def test_a_colon_space_in_a_value_gets_a_hint_to_quote_it(tmp_path: Path, case: str) -> None:
    text, spot, suggestion = COLONS[case]
    first = problems(tmp_path, text)[0]
    assert where(first) == spot, first.render()
    assert "contains ': '" in first.message
    assert suggestion in (first.hint or "")


# ── empty values and keys at the wrong depth ────────────────────────────────────────────────

EMPTY = {  # recipe text → (line, col) of the key, path
    "data.train": (GOOD.replace("  train: {path: train.jsonl}", "  train:"), (4, 3)),
    "data": (GOOD.replace("data:\n  train: {path: train.jsonl}\n", "data:\n"), (3, 1)),
    "encoders": (GOOD.replace("encoders:\n  plm: {type: hf, model: minilm-l6}\n",
                              "encoders:\n"), (5, 1)),
    "encoders.plm": (GOOD.replace("  plm: {type: hf, model: minilm-l6}", "  plm:"), (6, 3)),
    "heads.cls": (GOOD.replace("  cls: {type: classify, input: plm, labels: [neg, pos]}",
                               "  cls:  # to do"), (8, 3)),
}


@pytest.mark.parametrize("path", sorted(EMPTY))
def test_an_empty_value_is_located_at_its_key(tmp_path: Path, path: str) -> None:
    text, spot = EMPTY[path]
    first = next(p for p in problems(tmp_path, text) if p.path == path)
    assert where(first) == spot, first.render()
    assert first.found == "nothing (the key has no value)"


WRONG_DEPTH = {  # section → recipe text with its keys at its own depth, its line, lines to indent
    "data": (GOOD.replace("  train: {path", "train: {path"), 3, "line 4"),
    "encoders": (GOOD.replace("  plm: {type: hf, model: minilm-l6}",
                              "plm:\n  type: hf\n  model: minilm-l6"), 5, "lines 6-8"),
    "heads": (GOOD.replace("  cls: {type", "cls: {type"), 7, "line 8"),
    "train": (GOOD + "train:\nepochs: 2\nlr: 0.001\n", 9, "lines 10-11"),
}


@pytest.mark.parametrize("section", sorted(WRONG_DEPTH))
def test_keys_at_the_wrong_depth_are_one_indentation_problem(tmp_path: Path,
                                                             section: str) -> None:
    text, line, lines = WRONG_DEPTH[section]
    found = problems(tmp_path, text)
    [first] = [p for p in found if p.path == section]
    assert where(first) == (line, 1), first.render()
    assert first.message == f"'{section}' is empty: the keys meant for it are not indented under it"
    assert first.hint == f"indent {lines} by two more spaces"
    # the chain of errors it caused is gone: nothing else points below the section's key
    rest = [p for p in found if p is not first and p.loc and p.loc.line > line
            and p.loc.line <= line + 3]
    assert rest == [], [p.render() for p in rest]


def test_json_report_of_a_yaml_error_is_clean(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("{path: train.jsonl}", '{path: "a\\tb"}'))
    report = json.loads(render_json({"recipe.yaml": found}, {}))
    assert "\\t" in report["files"][0]["problems"][0]["found"]
