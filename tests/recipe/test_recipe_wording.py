"""Messages in etdecl's own words: no wording of pydantic or ruamel, no doubled phrases,
did-you-mean for enum values and references, plugin-aware option errors, and `--set`
problems that carry their origin instead of a fake file position.

Most cases start from tests/assets/valid/base.yaml and break it with `--set`, so each error
kind of the structural pass and each cross-field message is reached once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from etdecl.cli import app
from etdecl.recipe.errors import Problem, RecipeError, did_you_mean
from etdecl.recipe.resolve import gallery_dir
from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "tests" / "assets" / "valid" / "base.yaml"
MALFORMED = ROOT / "tests" / "assets" / "malformed"
TINY = ("encoders.plm={type: hf, tokenizer: minilm-l6, config: {model_type: bert, "
        "hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, "
        "intermediate_size: 64}}")

BREAKS = {  # one --set list per error kind or cross-field message
    "int": ["train.epochs=two"], "float": ["train.lr=fast"], "bool": ["train.deterministic=x"],
    "string": ["name=[a]"], "list": ["heads.cls.labels=neg"], "dict": ["data.where=3"],
    "model": ["train=3"], "union-members": ["data.where={c: [[1]]}"],
    "pattern": ["name=my run"], "pattern-key": ["heads={my head: {type: classify}}"],
    "too-long": ["name=" + "n" * 65], "too-short": ["heads.cls.labels=[pos]"],
    "empty-dict": ["encoders={}"], "greater-than": ["train.lr=-1"],
    "less-than": ["train.warmup=1"], "at-least": ["train.epochs=0"],
    "at-most": ["data.max_length=10000"], "literal": ["train.mixing=robin"],
    "zero-stage": ["parallel.zero_stage=3"], "union-tag": ["encoders.plm.type=hff"],
    "no-tag": ["heads.cls={input: plm}"], "extra": ["data.trian={path: x}"],
    "missing": ["heads.cls={type: classify}"], "version": ["etdecl=2"],
    "batch-split": ["train.grad_accum=3"], "tp-plugin": ["parallel.tp=2"],
    "microbatches": ["parallel.microbatches=2"], "overlap-p2p": ["parallel.overlap_p2p=true"],
    "no-data": ["data.train={}"], "gemini-stage": ["parallel={plugin: gemini, zero_stage: 1}"],
    "ddp-precision": ["parallel.precision=fp16"],
    "tp-model": ["parallel={plugin: hybrid, tp: 3}", TINY],
    "pp-model": ["parallel={plugin: hybrid, pp: 5}", TINY],
    "microbatches-few": ["parallel={plugin: hybrid, pp: 2, microbatches: 1}", TINY],
    "accumulate": ["parallel={plugin: gemini, precision: bf16}", "train.grad_accum=2"],
    "bad-override": ["train.lr"], "override-into-value": ["name.x=1"],
    "override-brace": ["name={a"], "override-bracket": ["train.lr=[1"],
    "override-quote": ['name="a'], "override-char": ["train.lr=@x"],
    "override-colons": ["name=a: b: c"], "override-self": ["name=&a [*a]"],
}
LEAKS = re.compile(r"Input should|after validation|should match pattern|String should|"
                   r"List should|Dictionary should|valid dictionary|\^\[|\$'|ruamel|"
                   r"pydantic|Value error", re.IGNORECASE)
YAML_LEAKS = re.compile(r"while parsing|while scanning|flow mapping|flow sequence|"
                        r"quoted scalar|any token")
"""ruamel's phrases; a YAML error in a file is reworded by the loader (load.py), a `--set`
value's here."""


def _problems(path: Path, overrides: list[str]) -> list[Problem]:
    try:
        loaded = load_recipe(path, overrides, check_data=False)
    except RecipeError as err:
        return err.problems
    return loaded.warnings


def _errors(path: Path, overrides: list[str]) -> list[Problem]:
    return [p for p in _problems(path, overrides) if p.severity == "error"]


def _assert_own_words(p: Problem) -> None:
    text = p.render()
    assert not LEAKS.search(text), text
    if re.search(r"[.\[]", p.path):  # printed before the message, which must not repeat it
        assert p.path not in p.message, text
    for detail in (p.expected, p.found):  # nor say again what is expected or found
        said = detail and re.search(rf"(?<![\w.]){re.escape(detail)}(?![\w.])", p.message)
        assert not said, text
    assert "expected expected" not in text and "found found" not in text, text


@pytest.mark.parametrize("overrides", list(BREAKS.values()), ids=list(BREAKS))
def test_messages_are_in_our_words(overrides: list[str]) -> None:
    errors = _errors(BASE, overrides)
    assert errors, "the case must produce an error"
    for p in errors:
        _assert_own_words(p)
        assert not YAML_LEAKS.search(p.render()), p.render()


@pytest.mark.parametrize("fixture", sorted(MALFORMED.glob("*.yaml")), ids=lambda p: p.stem)
def test_fixture_messages_are_in_our_words(fixture: Path) -> None:
    for p in _problems(fixture, []):
        _assert_own_words(p)


def test_a_union_says_wrong_type_once_listing_every_kind() -> None:
    [p] = _errors(BASE, ["data.where={c: [[1]]}"])
    assert (p.path, p.message) == ("data.where.c[0]", "wrong type")
    assert p.expected == "a string, an integer, a number or true or false"


@pytest.mark.parametrize(("value", "says"), [
    ("name={a", "a '{' is not closed"), ("train.lr=[1", "a '[' is not closed"),
    ('name="a', "a quote is not closed"), ("train.lr=@x", "'@' cannot start a value"),
])
def test_a_set_value_that_is_not_yaml_says_why(value: str, says: str) -> None:
    [p] = _errors(BASE, [value])
    assert p.message.startswith(f"bad override: value is not valid YAML: {says}")
    assert p.expected is not None and p.expected.startswith("a YAML value")


# ── did you mean ─────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("override", "hint"), [
    ("train.mixing=robin", "'round_robin'"),    # one part of an enum value
    ("train.mixing=prop", "'proportional'"),    # the start of one
    ("train.mixing=Temperature", "'temperature'"),  # case only
    ("encoders.plm.pooling=MEAN", "'mean'"),
    ("parallel.plugin=Gemini", "'gemini'"),
    ("parallel.precision=bf61", "'bf16'"),
    ("data.on_bad_row=skp", "'skip'"),
    ("heads.cls.input=PLM", "'plm'"),           # a reference differing in case
    ("heads.cls.input=Plm", "'plm'"),
    ("encoders.plm.type=HF", "'hf'"),
])
def test_did_you_mean_for_values_and_references(override: str, hint: str) -> None:
    [p] = _errors(BASE, [override])
    assert f"did you mean {hint}?" in (p.hint or ""), p.render()


def test_a_case_only_difference_is_said_to_be_one() -> None:
    assert did_you_mean("PLM", ["plm", "other"]) == \
        "did you mean 'plm'? (names are case-sensitive)"
    assert did_you_mean("zzz", ["plm", "other"]) is None
    assert did_you_mean("q", ["a_q_b", "zz"]) is None  # too short to be a part


GALLERY = sorted(p.stem for p in gallery_dir().glob("*.yaml") if not p.stem.startswith("_"))


@pytest.mark.parametrize("name", GALLERY)
@pytest.mark.parametrize("suffix", [".yaml", ""])
def test_extends_of_a_missing_file_named_like_a_gallery_recipe(name: str, suffix: str,
                                                               tmp_path: Path) -> None:
    child = tmp_path / "child.yaml"
    child.write_text(f"etdecl: 1\nname: child\nextends: {name}{suffix}\n")
    [p] = _errors(child, [])
    assert "does not exist" in p.message
    assert f"did you mean 'gallery:{name}'?" in (p.hint or ""), p.render()


def test_a_missing_file_not_in_the_gallery_gets_no_gallery_hint(tmp_path: Path) -> None:
    child = tmp_path / "child.yaml"
    child.write_text("etdecl: 1\nname: child\nextends: my_base.yaml\n")
    [p] = _errors(child, [])
    assert p.hint is None


# ── options that depend on the plugin, tp values that fit ───────────────────────────────────


@pytest.mark.parametrize(("plugin", "says"), [
    ("zero", "plugin 'zero' shards optimizer state and gradients"),
    ("hybrid", "plugin 'hybrid' shards optimizer state"),
    ("ddp", "plugin 'ddp' does not shard"),
    ("gemini", "plugin 'gemini' always shards parameters"),
])
@pytest.mark.parametrize("stage", [3, 4])
def test_zero_stage_3_is_explained_by_plugin(plugin: str, says: str, stage: int) -> None:
    [p] = _errors(BASE, [f"parallel={{plugin: {plugin}, zero_stage: {stage}, "
                         "precision: bf16}", "train.grad_accum=1"])
    assert p.path == "parallel.zero_stage" and p.message.startswith(says), p.render()
    assert p.message != "value not allowed"
    if plugin != "gemini":
        assert "gemini" in (p.hint or ""), p.render()


@pytest.mark.parametrize(("tp", "uneven"), [
    (3, "attention heads (4) and hidden size (32)"),
    (5, "attention heads (4), hidden size (32) and vocabulary (30522)"),
    (4, "vocabulary (30522)"), (8, "attention heads (4) and vocabulary (30522)"),
])
def test_tp_error_lists_the_tp_values_that_fit(tp: int, uneven: str) -> None:
    errors = [p for p in _errors(BASE, [f"parallel={{plugin: hybrid, tp: {tp}}}", TINY])
              if p.path == "parallel.tp"]
    [p] = errors
    assert p.message == f"does not divide the {uneven} of encoder 'plm'"
    assert (p.expected, p.found) == ("one of 1, 2", str(tp))


# ── --set: list syntax, origin instead of a file ──────────────────────────────────────────


@pytest.mark.parametrize(("override", "path"), [
    ("heads.cls.labels=neg", "heads.cls.labels"),
    ("heads.cls.labels=3", "heads.cls.labels"),
    ("data.where={category: fresh}", "data.where.category"),
])
def test_a_set_value_that_should_be_a_list_shows_the_list_syntax(override: str,
                                                                 path: str) -> None:
    [p] = _errors(BASE, [override])
    assert (p.path, p.expected) == (path, "a list")
    assert p.hint == f"write a list as --set {path}='[a, b]'"


def test_a_list_written_in_the_file_gets_no_set_hint() -> None:
    [p] = _errors(MALFORMED / "wrong_type_list.yaml", [])
    assert p.expected == "a list" and p.hint is None


@pytest.mark.parametrize("overrides", [["train.lr=fast"], ["train.lr"], ["trian.lr=1"]])
def test_set_problems_carry_an_origin_in_json_and_github(overrides: list[str], runner) -> None:
    sets = [a for spec in overrides for a in ("--set", spec)]
    shown = runner.invoke(app, ["validate", str(BASE), *sets, "--no-data", "-f", "json"])
    [problem] = json.loads(shown.stdout)["files"][0]["problems"]
    assert problem["loc"] is None and problem["origin"] == f"--set {overrides[0]}"
    assert '"line": 0' not in shown.stdout and '"col": 0' not in shown.stdout
    github = runner.invoke(app, ["validate", str(BASE), *sets, "--no-data", "-f", "github"])
    [line] = github.stdout.splitlines()
    assert line.startswith("::error title=") and "file=" not in line.partition("::")[2][:60]
    assert f"--set {overrides[0]}" in line
