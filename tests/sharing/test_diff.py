"""`etdecl diff`: a semantic diff of resolved recipes, with origins, in text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from etdecl.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXTENDS = "tests/assets/extends"


def line_of(path: str, text: str) -> int:
    lines = (ROOT / path).read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def test_formatting_order_comments_and_spelt_out_defaults_are_no_difference(
        runner, tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text("etdecl: 1\nname: r\ndata: {train: {path: x.jsonl}}\n"
                 "encoders: {plm: {type: hf, model: minilm-l6}}\n"
                 "heads: {cls: {type: classify, input: plm, labels: [neg, pos]}}\n")
    b.write_text("# the same recipe, written otherwise\n"
                 "heads:\n  cls:\n    labels: [neg, pos]\n    input: plm\n    type: classify\n"
                 "    dropout: 0.1          # the default, said out loud\n"
                 "encoders:\n  plm: {model: minilm-l6, type: hf, pooling: cls}\n"
                 "data:\n  train:\n    path: x.jsonl\n"
                 "name: r\netdecl: 1\ntrain: {lr: 5.0e-5}\n")
    result = runner.invoke(app, ["diff", str(a), str(b)])
    assert result.exit_code == 0, result.output
    assert "no differences" in result.stdout
    fingerprints = [line.split()[-1] for line in result.stdout.splitlines()[:2]]
    assert fingerprints[0] == fingerprints[1]


def test_changes_additions_and_removals_with_origins(runner) -> None:
    parent, child = f"{EXTENDS}/parent.yaml", f"{EXTENDS}/child.yaml"
    result = runner.invoke(app, ["diff", parent, child, "--format", "json"])
    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    assert body["identical"] is False
    assert body["a"]["file"] == parent and body["b"]["file"] == child
    changed = {c["path"]: c for c in body["changed"]}
    epochs = changed["train.epochs"]
    assert (epochs["a"], epochs["b"]) == (3, 1)
    assert epochs["origin_a"] == f"{parent}:{line_of(parent, 'epochs: 3')}"
    assert epochs["origin_b"] == f"{child}:{line_of(child, 'epochs: 1')}"
    labels = changed["heads.cls.labels"]  # lists replace: compared whole
    assert (labels["a"], labels["b"]) == (["neg", "pos", "neutral"], ["neg", "pos"])
    assert changed["name"]["b"] == "child"
    # a value the child inherits unchanged is no difference, wherever it is written
    assert "train.lr" not in changed and "heads.cls.dropout" not in changed
    # the description is only in the parent: the child inherits it, so it is the same too
    assert not body["added"] and not body["removed"]


def test_added_and_removed_subtrees_and_override_origins(runner) -> None:
    base = "tests/assets/valid/base.yaml"
    result = runner.invoke(app, ["diff", base, base, "--set-b", "data.dev={path: dev.jsonl}",
                                 "--set-a", "train.max_steps=10", "--set", "train.lr=3e-5"])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert "+ data.dev: {path: dev.jsonl, format: auto}  (--set data.dev={path: dev.jsonl})" \
        in lines
    assert "- train.max_steps: 10  (--set train.max_steps=10)" in lines
    assert not any("train.lr" in line for line in lines)  # --set applies to both sides
    assert lines[-1] == "1 added, 1 removed, 0 changed"


def test_default_origin_is_named(runner) -> None:
    base = "tests/assets/valid/base.yaml"
    result = runner.invoke(app, ["diff", base, base, "--set-b", "train.warmup=0.2",
                                 "--format", "json"])
    [change] = json.loads(result.stdout)["changed"]
    assert change == {"path": "train.warmup", "a": 0.1, "b": 0.2, "origin_a": "default",
                      "origin_b": "--set train.warmup=0.2"}


def test_a_recipe_that_does_not_load_is_exit_2_with_located_problems(runner) -> None:
    result = runner.invoke(app, ["diff", "tests/assets/valid/base.yaml",
                                 "tests/assets/malformed/misspelt_key.yaml"])
    assert result.exit_code == 2
    assert "tests/assets/malformed/misspelt_key.yaml:" in result.stderr
    assert "did you mean" in result.stderr


def test_gallery_recipes_differ_as_expected(runner) -> None:
    smoke = "recipes/quickstart-smoke.yaml"
    result = runner.invoke(app, ["diff", "recipes/quickstart.yaml", smoke])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    limit = [ln for ln in lines if ln[2:].startswith("data.train.limit: ")]
    assert len(limit) == 1 and "400" in limit[0]
    assert limit[0].endswith(f"{smoke}:{line_of(smoke, 'limit: 400')})")
    every = next(ln for ln in lines if ln.startswith("~ train.eval_every: "))
    assert every.endswith(f"-> {smoke}:{line_of(smoke, 'eval_every: 10')})")
    assert not any(ln[2:].startswith(("encoders", "heads")) for ln in lines)  # inherited
