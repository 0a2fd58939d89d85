"""The recipe fingerprint: a hash of what the recipe means, not of how its file is written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from etdecl.cli import app
from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]
EXTENDS = ROOT / "tests" / "assets" / "extends"

CANONICAL = """\
etdecl: 1
name: fp
data:
  train: {path: train.jsonl}
  fields: {text: text, label: label}
encoders:
  plm: {type: hf, model: minilm-l6, pooling: mean}
heads:
  cls: {type: classify, input: plm, labels: [neg, pos]}
train:
  lr: 1.0e-4
  epochs: 2
"""

SAME_MEANING = {
    "reordered": """\
train:
  epochs: 2
  lr: 1.0e-4
heads:
  cls: {labels: [neg, pos], input: plm, type: classify}
encoders:
  plm: {pooling: mean, model: minilm-l6, type: hf}
data:
  fields: {label: label, text: text}
  train: {path: train.jsonl}
name: fp
etdecl: 1
""",
    "comments": "# a comment\n" + CANONICAL.replace("epochs: 2", "epochs: 2  # two passes")
    + "# trailing comment\n",
    "block-style-and-quotes": """\
etdecl: 1
name: "fp"
data:
  train:
    path: 'train.jsonl'
  fields:
    text: text
    label: label
encoders:
  plm:
    type: hf
    model: minilm-l6
    pooling: mean
heads:
  cls:
    type: classify
    input: plm
    labels:
      - neg
      - pos
train:
  lr: 0.0001
  epochs: 2
""",
    "explicit-defaults": CANONICAL + "  seed: 42\n  warmup: 0.1\nparallel: {plugin: ddp}\n",
    "fields-default-omitted": CANONICAL.replace("  fields: {text: text, label: label}\n", ""),
}

DIFFERENT_MEANING = {
    "lr": CANONICAL.replace("lr: 1.0e-4", "lr: 2.0e-4"),
    "label-order": CANONICAL.replace("[neg, pos]", "[pos, neg]"),
    "name": CANONICAL.replace("name: fp", "name: fp2"),
    "pooling": CANONICAL.replace("pooling: mean", "pooling: cls"),
    "description": CANONICAL + "description: now with a description\n",
}


def fingerprint_of(tmp_path: Path, text: str, name: str = "recipe.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return load_recipe(path, check_data=False).fingerprint


def test_fingerprint_is_a_sha256(tmp_path: Path) -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint_of(tmp_path, CANONICAL))


@pytest.mark.parametrize("variant", SAME_MEANING, ids=list(SAME_MEANING))
def test_fingerprint_ignores_form(tmp_path: Path, variant: str) -> None:
    assert fingerprint_of(tmp_path, SAME_MEANING[variant]) == fingerprint_of(tmp_path, CANONICAL)


@pytest.mark.parametrize("variant", DIFFERENT_MEANING, ids=list(DIFFERENT_MEANING))
def test_fingerprint_follows_values(tmp_path: Path, variant: str) -> None:
    assert fingerprint_of(tmp_path, DIFFERENT_MEANING[variant]) != fingerprint_of(tmp_path,
                                                                                  CANONICAL)


def test_fingerprint_ignores_file_name_and_place(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    assert fingerprint_of(tmp_path, CANONICAL, "a.yaml") == fingerprint_of(tmp_path, CANONICAL,
                                                                            "sub/b.yaml")


def test_override_changes_fingerprint_like_an_edit(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(CANONICAL)
    by_override = load_recipe(path, ["train.lr=2.0e-4"], check_data=False).fingerprint
    assert by_override == fingerprint_of(tmp_path, DIFFERENT_MEANING["lr"], "edited.yaml")


def test_shown_recipe_has_the_same_fingerprint(runner, tmp_path: Path) -> None:
    """`etdecl show` flattens extends and fills defaults; the result means the same."""
    original = load_recipe(EXTENDS / "child.yaml", check_data=False).fingerprint
    result = runner.invoke(app, ["show", str(EXTENDS / "child.yaml")])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == f"# fingerprint: {original}"
    assert fingerprint_of(tmp_path, result.stdout, "flat.yaml") == original


def test_validate_prints_the_fingerprint(runner, tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(CANONICAL)
    fp = load_recipe(path, check_data=False).fingerprint
    text = runner.invoke(app, ["validate", "--no-data", str(path)])
    assert text.exit_code == 0, text.output
    assert f"fingerprint {fp[:16]}" in text.stdout
    report = runner.invoke(app, ["validate", "--no-data", str(path), "--format", "json"])
    assert report.exit_code == 0
    [entry] = json.loads(report.stdout)["files"]
    assert entry["fingerprint"] == fp and entry["valid"] is True
