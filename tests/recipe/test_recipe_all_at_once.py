"""Every problem in one run, across stages: a structural error in one section does not hide the
cross-reference and data problems of the others, and the report is ordered by line and column.

Each structural fault is paired with each cross-field or data fault in another section; both
must be reported together. Checks whose inputs are broken are skipped, never guessed at.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest

from etdecl.recipe.errors import Problem, RecipeError
from etdecl.recipe.validate import load_recipe

ROWS = '{"text": "fine", "label": "pos"}\n{"text": "dull", "label": "neg"}\n'
SECTIONS = {
    "data": "data:\n  train: {path: train.jsonl}\n",
    "encoders": "encoders:\n  plm: {type: hf, model: minilm-l6}\n",
    "heads": "heads:\n  cls: {type: classify, input: plm, labels: [neg, pos]}\n",
    "parallel": "parallel: {plugin: ddp}\n",
    "train": "train: {batch_size: 32, grad_accum: 1}\n",
}


@dataclass(frozen=True)
class Fault:
    id: str
    section: str
    text: str
    path: str
    """Dotted path of the problem it must produce."""


STRUCTURAL = [
    Fault("misspelt-train-key", "train", "train: {batch_size: 32, lrr: 1.0e-4}\n", "train.lrr"),
    Fault("empty-encoders", "encoders", "encoders: {}\n", "encoders"),
    Fault("bad-pooling", "encoders",
          "encoders:\n  plm: {type: hf, model: minilm-l6, pooling: maen}\n",
          "encoders.plm.pooling"),
    Fault("zero-stage-3", "parallel", "parallel: {plugin: zero, zero_stage: 3}\n",
          "parallel.zero_stage"),
    Fault("misspelt-data-key", "data", "data:\n  train: {path: train.jsonl}\n  max_lenght: 64\n",
          "data.max_lenght"),
    Fault("one-label", "heads", "heads:\n  cls: {type: classify, input: plm, labels: [pos]}\n",
          "heads.cls.labels"),
]
CROSS = [
    Fault("dangling-input", "heads",
          "heads:\n  cls: {type: classify, input: plmm, labels: [neg, pos]}\n", "heads.cls.input"),
    Fault("data-field", "data", "data:\n  train: {path: train.jsonl}\n  fields: {text: txt}\n",
          "data.fields.text"),
    Fault("batch-split", "train", "train: {batch_size: 30, grad_accum: 4}\n", "train.grad_accum"),
    Fault("model-alias", "encoders", "encoders:\n  plm: {type: hf, model: minilm-l7}\n",
          "encoders.plm.model"),
    Fault("label-twice", "heads",
          "heads:\n  cls: {type: classify, input: plm, labels: [neg, pos, neg]}\n",
          "heads.cls.labels[2]"),
    Fault("ddp-precision", "parallel", "parallel: {plugin: ddp, precision: fp16}\n",
          "parallel.precision"),
]
PAIRS = [(s, c) for s, c in itertools.product(STRUCTURAL, CROSS) if s.section != c.section]


def _recipe(tmp_path: Path, *faults: Fault) -> Path:
    sections = dict(SECTIONS)
    for fault in faults:
        sections[fault.section] = fault.text
    (tmp_path / "train.jsonl").write_text(ROWS)
    path = tmp_path / "recipe.yaml"
    path.write_text("etdecl: 1\nname: pair\n" + "".join(sections.values()))
    return path


def _problems(path: Path, overrides: list[str] | None = None) -> list[Problem]:
    with pytest.raises(RecipeError) as info:
        load_recipe(path, overrides)
    return info.value.problems


def _errors(problems: list[Problem]) -> list[str]:
    return [p.path for p in problems if p.severity == "error"]


@pytest.mark.parametrize(("structural", "cross"), PAIRS,
                         ids=[f"{s.id}+{c.id}" for s, c in PAIRS])
def test_structural_error_does_not_hide_cross_problems(structural: Fault, cross: Fault,
                                                        tmp_path: Path) -> None:
    problems = _problems(_recipe(tmp_path, structural, cross))
    errors = _errors(problems)
    assert errors.count(structural.path) == 1, errors
    assert errors.count(cross.path) == 1, errors


@pytest.mark.parametrize(("structural", "cross"), PAIRS,
                         ids=[f"{s.id}+{c.id}" for s, c in PAIRS])
def test_report_is_ordered_by_line_and_column(structural: Fault, cross: Fault,
                                              tmp_path: Path) -> None:
    problems = _problems(_recipe(tmp_path, structural, cross))
    places = [(p.loc.line, p.loc.col) for p in problems if p.loc is not None]
    assert places == sorted(places)


def test_empty_encoders_and_a_dangling_input_in_one_run(tmp_path: Path) -> None:
    empty, dangling = STRUCTURAL[1], CROSS[0]
    problems = [p for p in _problems(_recipe(tmp_path, empty, dangling)) if p.severity == "error"]
    assert [p.path for p in problems] == ["encoders", "heads.cls.input"]
    assert problems[1].expected == "nothing: none is declared"


@pytest.mark.parametrize("encoders", [
    "encoders:\n  plm: {type: hff, model: minilm-l7}\n",       # the type decides every key
    "encoders:\n  plm: {model: minilm-l7}\n",                  # no type at all
    "encoders:\n  plm: [minilm-l7]\n",                         # not a mapping
])
def test_checks_skip_a_broken_component_instead_of_guessing(encoders: str,
                                                            tmp_path: Path) -> None:
    """An encoder whose structure is broken still has a name: the head reading it is fine, and
    nothing is said about its model until its structure is fixed."""
    broken = Fault("broken", "encoders", encoders, "encoders.plm")
    errors = _errors(_problems(_recipe(tmp_path, broken)))
    assert "heads.cls.input" not in errors and "encoders.plm.model" not in errors
    assert len(errors) == 1 and errors[0].startswith("encoders.plm"), errors


@pytest.mark.parametrize("labels", ["[neg, 3]", "[neg, [pos]]", "neg"])
def test_a_broken_label_list_is_not_checked_for_duplicates(labels: str, tmp_path: Path) -> None:
    heads = Fault("labels", "heads", f"heads:\n  cls: {{type: classify, input: plm, "
                  f"labels: {labels}}}\n", "heads.cls.labels")
    errors = _errors(_problems(_recipe(tmp_path, heads, CROSS[2])))
    assert "train.grad_accum" in errors
    assert not any("listed twice" in p.message for p in _problems(_recipe(tmp_path, heads)))


def test_a_bad_override_does_not_hide_the_recipes_problems(tmp_path: Path) -> None:
    path = _recipe(tmp_path, STRUCTURAL[0], CROSS[0])
    problems = _problems(path, ["train.lr", "train.epochs=3"])
    assert _errors(problems) == ["heads.cls.input", "train.lrr", ""]
    assert problems[-1].loc is not None and problems[-1].loc.file == "--set train.lr"


def test_override_problems_come_last_in_command_line_order(tmp_path: Path) -> None:
    path = _recipe(tmp_path, CROSS[0])
    problems = _problems(path, ["train.epochs=x", "a..b=1", "train.lr=fast"])
    assert [p.loc.file for p in problems if p.loc is not None][-3:] == [
        "--set train.epochs=x", "--set a..b=1", "--set train.lr=fast"]
