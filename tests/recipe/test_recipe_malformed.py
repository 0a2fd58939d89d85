"""Malformed recipes: every mistake is reported at its exact file:line:col, with a useful message.

Each case names a fixture in `tests/assets/malformed/` (or writes small files into tmp_path when
the mistake needs a data file next to the recipe), the place the first error must point at, and
a substring of its message (and of its 'did you mean' hint where there should be one). The same
cases then go through the CLI in all three output formats.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from etdecl.cli import app
from etdecl.recipe.errors import Location, Problem, RecipeError, render_text
from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "tests" / "assets"
MALFORMED = ASSETS / "malformed"

RECIPE_HEAD = """\
etdecl: 1
name: inline
data:
  train: {path: train.jsonl}
"""
RECIPE_TAIL = """\
encoders:
  plm: {type: hf, model: minilm-l6}
heads:
  cls: {type: classify, input: plm, labels: [neg, pos]}
"""
GOOD_ROWS = '{"text": "fine", "label": "pos"}\n{"text": "dull", "label": "neg"}\n'


@dataclass
class Case:
    id: str
    recipe: str
    """Recipe to validate: a path under tests/assets/, or a file name in `files`."""
    line: int
    col: int
    message: str
    """Substring of the first error's message; `{tmp}` stands for the case's tmp_path."""
    hint: str | None = None
    """Substring of the first error's hint (e.g. "did you mean 'train'?")."""
    expected: str | None = None
    """Substring of what the first error says was expected."""
    file: str | None = None
    """Where the error must be when not in the recipe itself (under assets/, or '--set ...')."""
    overrides: tuple[str, ...] = ()
    files: dict[str, str | bytes] = field(default_factory=dict)
    """Written into tmp_path before validating (inline cases)."""
    errors: int = 1
    """How many errors the recipe must produce."""


def m(name: str) -> str:
    return f"malformed/{name}.yaml"


def inline(recipe: str | bytes, **data: str | bytes) -> dict[str, str | bytes]:
    return {"recipe.yaml": recipe, **data}


CASES = [
    # ── structure: keys, types, names ──────────────────────────────────────────────────────
    Case("misspelt-key", m("misspelt_key"), 10, 5, "unknown key 'poolng'",
         hint="did you mean 'pooling'?"),
    Case("misspelt-section", m("misspelt_section"), 10, 1, "unknown key 'trian'",
         hint="did you mean 'train'?"),
    Case("wrong-type-int", m("wrong_type_int"), 11, 11, "wrong type"),
    Case("quoted-number", m("quoted_number"), 11, 11, "wrong type"),
    Case("wrong-type-bool", m("wrong_type_bool"), 11, 18, "wrong type"),
    Case("wrong-type-list", m("wrong_type_list"), 12, 13, "wrong type"),
    Case("wrong-type-mapping", m("wrong_type_mapping"), 10, 8, "wrong type",
         expected="a mapping"),
    Case("bad-name", m("bad_name"), 3, 7, "not a valid name", expected="letters, digits"),
    Case("non-string-key", m("non_string_key"), 10, 3, "mapping keys must be strings"),
    Case("unknown-encoder-type", m("unknown_encoder_type"), 7, 15, "unknown encoder type 'hff'",
         hint="did you mean 'hf'?"),
    Case("unknown-head-type", m("unknown_head_type"), 10, 11, "unknown head type 'clasify'",
         hint="did you mean 'classify'?"),
    Case("missing-type", m("missing_type"), 8, 5, "missing required key 'type'"),
    Case("missing-section", m("missing_section"), 1, 1, "missing required key 'heads'"),
    Case("merge-key", m("merge_key"), 8, 28, "unknown key 'polling'",
         hint="did you mean 'pooling'?"),
    # ── format version ─────────────────────────────────────────────────────────────────────
    Case("version-2", m("version_2"), 2, 9, "unsupported recipe format version"),
    Case("version-bool", m("version_bool"), 2, 9, "unsupported recipe format version"),
    Case("version-missing", m("version_missing"), 1, 1, "missing required key 'etdecl'",
         hint="add 'etdecl: 1'"),
    # ── YAML itself ────────────────────────────────────────────────────────────────────────
    # the primary place is where the mistake is, not the token after it; the construct's start
    # ("opened at line 5") is named too
    Case("yaml-syntax", m("yaml_syntax"), 5, 36,
         "the '{{' mapping opened at line 5, column 10 is not closed"),
    Case("yaml-indent", m("yaml_indent"), 4, 3, "'data' is indented deeper than line 3"),
    Case("yaml-tab", m("yaml_tab"), 5, 1, "a tab is used for indentation"),
    Case("yaml-unclosed-quote", m("yaml_unclosed_quote"), 3, 7,
         "the quoted string is never closed"),
    Case("yaml-end-in-list", m("yaml_end_in_list"), 10, 18,
         "the file ends too early", hint="left open"),
    Case("yaml-block-indent", m("yaml_block_indent"), 6, 2,
         "wrong indentation: line 6 does not fit the mapping started at line 2, column 1"),
    Case("yaml-colon-in-value", m("yaml_colon_in_value"), 4, 23, "a value contains ': '",
         hint='description: "sentiment: the quick version"'),
    Case("yaml-colon-in-flow", m("yaml_colon_in_flow"), 5, 24,
         "a value in the '{{' mapping opened at line 5, column 10 contains ': '",
         hint="path: 'reviews: 2024.jsonl'"),
    Case("yaml-unknown-escape", m("yaml_unknown_escape"), 5, 20, "'\\d' is not an escape",
         hint="single quotes or with forward slashes"),
    Case("escaped-control-character", m("escaped_control_character"), 5, 22,
         "turns '\\n' into the control character U+000A (line feed)",
         hint="forward slashes: data/new/train.jsonl"),
    Case("typographic-quotes", m("typographic_quotes"), 3, 7,
         "typographic quote used as a YAML quote"),
    Case("nbsp-indent", "recipe.yaml", 4, 1, "invisible character",
         files=inline("etdecl: 1\nname: t\ndata:\n\u00a0 train: {path: x.jsonl}\n")),
    Case("zero-width-in-key", "recipe.yaml", 2, 3, "invisible character",
         files=inline("etdecl: 1\nna\u200bme: t\n")),
    Case("utf16-bom", "recipe.yaml", 1, 1, "recipe is encoded as UTF-16 (little-endian)",
         hint="save the file as UTF-8",
         files=inline(b"\xff\xfe" + "etdecl: 1\n".encode("utf-16-le"))),
    Case("empty-value", m("empty_value"), 5, 3, "wrong type", expected="a mapping"),
    Case("section-wrong-depth", m("section_wrong_depth"), 4, 1,
         "'data' is empty: the keys meant for it are not indented under it",
         hint="indent line 5 by two more spaces"),
    Case("encoder-wrong-depth", m("encoder_wrong_depth"), 6, 1,
         "'encoders' is empty: the keys meant for it are not indented under it",
         hint="indent lines 7-9 by two more spaces"),
    Case("duplicate-key", m("duplicate_key"), 10, 1, 'duplicate key "name"'),
    Case("empty-file", m("empty"), 1, 1, "the recipe is empty"),
    Case("comments-only", m("comments_only"), 1, 1, "the recipe is empty"),
    Case("top-level-list", m("top_level_list"), 2, 1, "must be a mapping at the top level"),
    Case("yaml-tag", m("yaml_tag"), 3, 7, "YAML tags are not allowed"),
    Case("multiple-documents", m("multiple_documents"), 4, 1, "a single YAML document"),
    Case("non-utf8", m("non_utf8"), 4, 17, "not valid UTF-8"),
    Case("nul-character", "recipe.yaml", 2, 8, "special characters are not allowed",
         files=inline(b"etdecl: 1\nname: t\x00\n")),
    # ── extends ────────────────────────────────────────────────────────────────────────────
    Case("extends-missing", m("extends_missing"), 2, 10, "does not exist: no_such_parent.yaml"),
    Case("extends-cycle-a", m("extends_cycle_a"), 2, 10, "forms a cycle",
         file=m("extends_cycle_b")),
    Case("extends-cycle-b", m("extends_cycle_b"), 2, 10, "forms a cycle",
         file=m("extends_cycle_a")),
    Case("extends-self", m("extends_self"), 2, 10, "forms a cycle"),
    Case("extends-wrong-type", m("extends_wrong_type"), 2, 10,
         "'extends' must be a recipe path or a list of them"),
    Case("extends-list-item", m("extends_list_item"), 4, 5,
         "'extends' must be a recipe path or a list of them"),
    Case("extends-parent-error", m("extends_parent_error"), 11, 7, "wrong type",
         file=m("_bad_parent")),
    Case("bad-parent", m("_bad_parent"), 11, 7, "wrong type"),
    # ── values and cross-field rules ───────────────────────────────────────────────────────
    Case("dangling-input", m("dangling_input"), 9, 32, "reads 'plmm', which is not a declared",
         hint="did you mean 'plm'?"),
    Case("duplicate-labels", m("duplicate_labels"), 15, 9, "label 'neg' is listed twice"),
    Case("empty-label", m("empty_label"), 9, 51, "labels must be non-empty"),
    Case("single-label", m("single_label"), 9, 45, "too few items", expected="at least 2 items"),
    Case("negative-lr", m("negative_lr"), 11, 7, "too small", expected="greater than 0"),
    Case("warmup-one", m("warmup_one"), 11, 11, "too large", expected="less than 1"),
    Case("unknown-pooling", m("unknown_pooling"), 7, 46, "value not allowed",
         hint="did you mean 'mean'?"),
    Case("model-and-config", m("model_and_config"), 10, 13, "either 'model' or 'config'"),
    Case("config-without-tokenizer", m("config_without_tokenizer"), 9, 13, "needs 'tokenizer'"),
    Case("unknown-model-alias", m("unknown_model_alias"), 7, 26, "unknown model alias 'minilm-l7'",
         hint="did you mean 'minilm-l6'?"),
    Case("batch-not-divisible", m("batch_not_divisible"), 12, 15, "not divisible"),
    Case("data-source-empty", m("data_source_empty"), 5, 10, "names no data"),
    Case("dataset-unknown", m("dataset_unknown"), 5, 63,
         "head 'cls' reads dataset 'sentiment', which is not declared",
         hint="did you mean 'sentiment_reviews'?", errors=2),
    Case("dataset-unread", m("dataset_unread"), 7, 12, "no head reads dataset 'extra'"),
    Case("token-head-two-tokenizers", m("token_head_two_tokenizers"), 10, 27,
         "needs token states aligned to one tokenizer"),
    Case("tag-scheme-mismatch", m("tag_scheme_mismatch"), 9, 8,
         "data error: tag 'I-person' (word 1) cannot follow start in BIO",
         hint="set the head's scheme to the data's"),
    Case("three-errors", m("three_errors"), 6, 3, "unknown key 'max_lenght'",
         hint="did you mean 'max_length'?", errors=3),
    Case("three-cross-errors", m("three_cross_errors"), 7, 26, "unknown model alias",
         errors=3),
    # ── --set overrides (the error is located at the override) ─────────────────────────────
    Case("set-no-equals", "valid/base.yaml", 0, 0, "bad override: no '=' between key and value",
         file="--set train.lr", overrides=("train.lr",)),
    Case("set-unknown-section", "valid/base.yaml", 0, 0, "unknown key 'trian'",
         hint="did you mean 'train'?", file="--set trian.lr=1e-5", overrides=("trian.lr=1e-5",)),
    Case("set-unknown-key", "valid/base.yaml", 0, 0, "unknown key 'lrr'",
         hint="did you mean 'lr'?", file="--set train.lrr=1e-5", overrides=("train.lrr=1e-5",)),
    Case("set-wrong-type", "valid/base.yaml", 0, 0, "wrong type",
         file="--set train.epochs=abc", overrides=("train.epochs=abc",)),
    Case("set-out-of-range", "valid/base.yaml", 0, 0, "too large", expected="less than 1",
         file="--set train.warmup=2", overrides=("train.warmup=2",)),
    Case("set-unknown-type", "valid/base.yaml", 0, 0, "unknown encoder type 'hff'",
         hint="did you mean 'hf'?", file="--set encoders.plm.type=hff",
         overrides=("encoders.plm.type=hff",)),
    Case("set-into-scalar", "valid/base.yaml", 0, 0, "cannot descend into a value",
         file="--set name.first=x", overrides=("name.first=x",)),
    Case("set-past-list-end", "valid/base.yaml", 0, 0, "no such place",
         file="--set heads.cls.labels[2]=x", overrides=("heads.cls.labels[2]=x",)),
    Case("set-empty-key", "valid/base.yaml", 0, 0, "empty key in path",
         file="--set train..lr=1", overrides=("train..lr=1",)),
    Case("set-bad-index", "valid/base.yaml", 0, 0, "list index must be a non-negative integer",
         file="--set heads.cls.labels[x]=a", overrides=("heads.cls.labels[x]=a",)),
    Case("set-yaml-tag", "valid/base.yaml", 0, 0, "value is not valid YAML",
         file="--set name=!!python/object/apply:os.system [ls]",
         overrides=("name=!!python/object/apply:os.system [ls]",)),
    # ── data files (the error names the data file and line) ───────────────────────────────
    Case("data-field-missing", "recipe.yaml", 5, 18, "field 'txt' is not in {tmp}/train.jsonl",
         hint="did you mean 'text'?",
         files=inline(RECIPE_HEAD + "  fields: {text: txt}\n" + RECIPE_TAIL,
                      **{"train.jsonl": GOOD_ROWS})),
    Case("data-default-field-missing", "recipe.yaml", 4, 3,
         "field 'text' is not in {tmp}/train.jsonl", hint="did you mean 'texts'?",
         files=inline(RECIPE_HEAD + RECIPE_TAIL,
                      **{"train.jsonl": '{"texts": "fine", "label": "pos"}\n'})),
    Case("data-where-field-missing", "recipe.yaml", 5, 17,
         "field 'lang' is not in {tmp}/train.jsonl",
         files=inline(RECIPE_HEAD + "  where: {lang: [en]}\n" + RECIPE_TAIL,
                      **{"train.jsonl": GOOD_ROWS})),
    Case("data-invalid-json", "recipe.yaml", 4, 10, "{tmp}/train.jsonl:3: data error: invalid JSON",
         files=inline(RECIPE_HEAD + RECIPE_TAIL,
                      **{"train.jsonl": GOOD_ROWS + '{"text": "x" "label": "pos"}\n'})),
    Case("data-truncated-json", "recipe.yaml", 4, 10,
         "{tmp}/train.jsonl:3: data error: truncated last line",
         files=inline(RECIPE_HEAD + RECIPE_TAIL,
                      **{"train.jsonl": GOOD_ROWS + '{"text": "x", "lab'})),
    Case("data-not-object", "recipe.yaml", 4, 10,
         "{tmp}/train.jsonl:2: data error: expected a JSON object",
         files=inline(RECIPE_HEAD + RECIPE_TAIL,
                      **{"train.jsonl": '{"text": "a", "label": "pos"}\n["b", "neg"]\n'})),
    Case("data-bad-utf8", "recipe.yaml", 4, 10, "{tmp}/train.jsonl:2: data error: invalid UTF-8",
         files=inline(RECIPE_HEAD + RECIPE_TAIL,
                      **{"train.jsonl": b'{"text": "a", "label": "pos"}\n{"text": "\xff"}\n'})),
    Case("data-csv-columns", "recipe.yaml", 4, 10,
         "{tmp}/train.csv:3: data error: expected 2 columns",
         files=inline(RECIPE_HEAD.replace("train.jsonl", "train.csv") + RECIPE_TAIL,
                      **{"train.csv": "text,label\nfine,pos\ndull\n"})),
    Case("data-empty-file", "recipe.yaml", 4, 10,
         "{tmp}/train.jsonl: data error: data file is empty",
         files=inline(RECIPE_HEAD + RECIPE_TAIL, **{"train.jsonl": "\n"})),
]
IDS = [c.id for c in CASES]
assert len(set(IDS)) == len(IDS), "case ids must be unique"


def materialise(case: Case, tmp_path: Path) -> tuple[Path, Path]:
    """(recipe path, directory the case's file names are relative to)."""
    if not case.files:
        return ASSETS / case.recipe, ASSETS
    base = tmp_path.resolve()
    for name, content in case.files.items():
        target = base / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return base / case.recipe, base


def expected_file(case: Case, base: Path) -> str:
    name = case.file or case.recipe
    return name if name.startswith("--set") else str((base / name).resolve())


def actual_file(loc: Location) -> str:
    return loc.file if loc.file.startswith("--set") else str(Path(loc.file).resolve())


def errors_of(case: Case, tmp_path: Path) -> tuple[list[Problem], Path]:
    path, base = materialise(case, tmp_path)
    with pytest.raises(RecipeError) as info:
        load_recipe(path, list(case.overrides))
    return [p for p in info.value.problems if p.severity == "error"], base


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_malformed_recipe_is_reported_at_its_place(case: Case, tmp_path: Path) -> None:
    errors, base = errors_of(case, tmp_path)
    assert len(errors) == case.errors, render_text(errors)
    first = errors[0]
    assert first.loc is not None, first.render()
    assert (actual_file(first.loc), first.loc.line, first.loc.col) == (
        expected_file(case, base), case.line, case.col), first.render()
    assert case.message.format(tmp=base) in first.message, first.render()
    if case.hint is not None:
        assert case.hint in (first.hint or ""), first.render()
    if case.expected is not None:
        assert case.expected in (first.expected or ""), first.render()


def test_every_malformed_fixture_has_a_case() -> None:
    fixtures = {f"malformed/{p.name}" for p in MALFORMED.glob("*.yaml")}
    covered = {c.recipe for c in CASES if not c.files}
    assert fixtures - covered == set()
    assert covered - fixtures - {"valid/base.yaml"} == set()
    assert len(CASES) >= 30


# ── several problems, one report ─────────────────────────────────────────────────────────────


def test_structural_problems_are_reported_together() -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(MALFORMED / "three_errors.yaml")
    found = [(p.path, p.loc.line, p.loc.col) for p in info.value.problems]
    assert found == [("data.max_lenght", 6, 3), ("heads.cls.labels", 10, 45),
                     ("train.epochs", 12, 11)]


def test_cross_field_problems_are_reported_together() -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(MALFORMED / "three_cross_errors.yaml")
    errors = [p for p in info.value.problems if p.severity == "error"]
    assert [p.path for p in errors] == ["encoders.plm.model", "heads.cls.input",
                                        "heads.cls.labels[2]"]
    assert "did you mean 'minilm-l6'?" in errors[0].render()
    assert "did you mean 'plm'?" in errors[1].render()
    assert "listed twice" in errors[2].message


def test_override_problems_are_reported_together() -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(ASSETS / "valid/base.yaml", ["train.lr", "name.x=1", "a..b=2"])
    assert [p.loc.file for p in info.value.problems] == ["--set train.lr", "--set name.x=1",
                                                         "--set a..b=2"]


def test_bad_override_does_not_hide_file_problems() -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(MALFORMED / "wrong_type_int.yaml", ["train.lrr=1e-5"])
    paths = sorted(p.path for p in info.value.problems)
    assert paths == ["train.epochs", "train.lrr"]


def test_problem_text_is_file_line_col() -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(MALFORMED / "misspelt_key.yaml")
    assert str(info.value).startswith(
        "tests/assets/malformed/misspelt_key.yaml:10:5: error: encoders.plm.poolng: "
        "unknown key 'poolng'")


# ── the same cases through the CLI ──────────────────────────────────────────────────────────


def _cli_args(case: Case, path: Path, *extra: str) -> list[str]:
    sets = [arg for spec in case.overrides for arg in ("--set", spec)]
    return ["validate", str(path), *sets, *extra]


def _assert_clean_exit(result) -> None:
    assert result.exit_code == 1, result.output
    # An exception escaping the command would also give exit code 1, with a traceback.
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_text(case: Case, tmp_path: Path, runner) -> None:
    path, _ = materialise(case, tmp_path)
    result = runner.invoke(app, _cli_args(case, path))
    _assert_clean_exit(result)
    assert case.message.format(tmp=tmp_path.resolve()) in result.stderr
    if case.line:
        assert f":{case.line}:{case.col}: error: " in result.stderr
    assert "0 of 1 recipe(s) valid" in result.stderr


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_json(case: Case, tmp_path: Path, runner) -> None:
    path, base = materialise(case, tmp_path)
    result = runner.invoke(app, _cli_args(case, path, "--format", "json"))
    _assert_clean_exit(result)
    report = json.loads(result.stdout)
    assert report["valid"] is False
    [entry] = report["files"]
    assert entry["valid"] is False and entry["fingerprint"] is None
    errors = [p for p in entry["problems"] if p["severity"] == "error"]
    assert len(errors) == case.errors
    first = errors[0]
    assert case.message.format(tmp=base) in first["message"]
    if case.overrides:  # a --set problem has an origin, not a file position
        assert first["loc"] is None and first["origin"] == expected_file(case, base)
    else:
        assert (first["loc"]["line"], first["loc"]["col"]) == (case.line, case.col)
        assert first["origin"] is None
    assert set(first) >= {"message", "loc", "origin", "path", "expected", "found", "hint",
                          "severity"}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_github(case: Case, tmp_path: Path, runner) -> None:
    path, _ = materialise(case, tmp_path)
    result = runner.invoke(app, _cli_args(case, path, "--format", "github"))
    _assert_clean_exit(result)
    lines = result.stdout.splitlines()
    # A --set problem is an annotation without `file=`, its origin in the message.
    head = r"::(error|warning) title=" if case.overrides else r"::(error|warning) file="
    assert lines and all(re.match(head, line) for line in lines), lines
    errors = [line for line in lines if line.startswith("::error ")]
    assert len(errors) == case.errors
    if case.overrides:
        assert errors[0].partition("::")[2].partition("::")[2].startswith(case.file or "")
    if case.line:
        assert f",line={case.line},col={case.col}," in errors[0]


def _etdecl() -> list[str]:
    script = Path(sys.executable).parent / "etdecl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "etdecl.cli"]


def test_console_script_on_the_whole_fixture_directory() -> None:
    """The real entry point, once over every fixture: exit 1, no traceback, JSON for each."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    text = subprocess.run([*_etdecl(), "validate", "tests/assets/malformed"], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=60)
    assert text.returncode == 1
    assert "Traceback" not in text.stdout + text.stderr
    shown = subprocess.run([*_etdecl(), "validate", "tests/assets/malformed", "-f", "json"],
                           cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert shown.returncode == 1 and "Traceback" not in shown.stderr
    report = json.loads(shown.stdout)
    listed = {Path(f["file"]).name for f in report["files"]}
    # Directory walks skip `_partial` files, as a gallery does, and YAML that does not say it
    # is a recipe (no `etdecl:`/`extends:` key, no $schema header); named, those are checked.
    unmarked = {"comments_only.yaml", "empty.yaml", "top_level_list.yaml",
                "version_missing.yaml"}
    expected = {p.name for p in MALFORMED.glob("*.yaml") if not p.name.startswith("_")}
    assert listed == expected - unmarked
    verbose = subprocess.run([*_etdecl(), "validate", "tests/assets/malformed", "--verbose"],
                             cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    passed_over = {Path(ln.split(":")[0].removeprefix("skipped ")).name
                   for ln in verbose.stdout.splitlines() if ln.startswith("skipped ")}
    assert passed_over == unmarked | {"_bad_parent.yaml"}
    assert not any(f["valid"] for f in report["files"])
