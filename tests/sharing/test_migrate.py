"""Format versions: `validate` points old recipes at `etdecl migrate`, which upgrades them in
place keeping comments and key order; `--check` is for CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from etdecl.cli import app
from etdecl.recipe import migrate as mig
from etdecl.recipe.errors import RecipeError
from etdecl.recipe.validate import load_recipe

# The design sketch's recipe as version 0 wrote it (fields inline in the data sources), cut to
# what this etdecl builds, with the comments a user would have added.
SKETCH_V0 = """\
# yaml-language-server: $schema=../schemas/recipe.schema.json
# Amazon reviews, four domains (written before format 1).
name: drss-amazon   # the run's folder
data:
  train: {path: train.jsonl, text: text, label: label, domain: domain}
  dev:   {path: dev.jsonl}   # held-out reviews
  # texts are cut here
  max_length: 128
encoders:
  plm: {type: hf, model: minilm-l6}          # alias for a pip-packaged model
heads:
  sentiment: {type: classify, input: plm, labels: [negative, positive]}
train: {epochs: 3, batch_size: 32, lr: 3.0e-5, warmup: 0.1, eval_every: 200, seed: 42}
"""

SKETCH_V1 = """\
# yaml-language-server: $schema=../schemas/recipe.schema.json
# Amazon reviews, four domains (written before format 1).
etdecl: 1
name: drss-amazon   # the run's folder
data:
  train: {path: train.jsonl}
  dev: {path: dev.jsonl}     # held-out reviews
  fields: {text: text, label: label, domain: domain}
  # texts are cut here
  max_length: 128
encoders:
  plm: {type: hf, model: minilm-l6}          # alias for a pip-packaged model
heads:
  sentiment: {type: classify, input: plm, labels: [negative, positive]}
train: {epochs: 3, batch_size: 32, lr: 3.0e-5, warmup: 0.1, eval_every: 200, seed: 42}
"""

BLOCK_V0 = """\
etdecl: 0
name: block
data:
    train:
        path: train.csv
        text: review      # the review body
        label: stars
        format: csv

    dev:
        path: dev.csv
        label: stars
encoders:
    plm:
        type: hf
        model: minilm-l6
heads:
    cls:
        type: classify
        input: plm
        labels:
          - '1'
          - '5'
"""

BLOCK_V1 = """\
etdecl: 1
name: block
data:
    train:
        path: train.csv
        format: csv

    dev:
        path: dev.csv
    fields:
        text: review      # the review body
        label: stars
encoders:
    plm:
        type: hf
        model: minilm-l6
heads:
    cls:
        type: classify
        input: plm
        labels:
          - '1'
          - '5'
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_sketch_recipe_migrates_keeping_comments_and_order(runner, tmp_path) -> None:
    recipe = write(tmp_path / "old.yaml", SKETCH_V0)
    result = runner.invoke(app, ["migrate", str(recipe)])
    assert result.exit_code == 0, result.output
    assert recipe.read_text() == SKETCH_V1
    assert "migrated version 0 -> 1" in result.stdout
    assert "data.train.domain -> data.fields.domain" in result.stdout
    loaded = load_recipe(recipe, check_data=False)
    assert loaded.recipe.data.fields.domain == "domain"
    # a second run has nothing to do and leaves the bytes alone
    again = runner.invoke(app, ["migrate", str(recipe)])
    assert again.exit_code == 0 and "already format version 1" in again.stdout
    assert recipe.read_text() == SKETCH_V1


def test_block_style_indents_blank_lines_and_quotes_survive(tmp_path) -> None:
    result = mig.migrate_text(BLOCK_V0, "block.yaml")
    assert result.text == BLOCK_V1
    assert result.changes == ["etdecl: 0 -> 1", "data.train.text -> data.fields.text",
                              "data.train.label -> data.fields.label",
                              "removed data.dev.label (same as data.fields.label)"]
    recipe = write(tmp_path / "block.yaml", result.text)
    assert load_recipe(recipe, check_data=False).recipe.heads["cls"].labels == ["1", "5"]


def test_validate_says_old_format_and_names_the_command(runner, tmp_path) -> None:
    recipe = write(tmp_path / "old.yaml", SKETCH_V0)
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe, check_data=False)
    [problem] = info.value.problems  # not also 'missing etdecl' and 'unknown key text'
    assert "old format (version 0)" in problem.message
    line = SKETCH_V0.splitlines()[4]
    assert (problem.loc.line, problem.loc.col) == (5, line.index("text:") + 1)
    assert f"etdecl migrate {problem.loc.file}" in problem.hint
    result = runner.invoke(app, ["validate", str(recipe), "--no-data"])
    assert result.exit_code == 1 and "etdecl migrate" in result.stderr


def test_validate_on_explicit_version_0(tmp_path) -> None:
    recipe = write(tmp_path / "v0.yaml", SKETCH_V1.replace("etdecl: 1", "etdecl: 0"))
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe, check_data=False)
    [problem] = info.value.problems
    assert problem.path == "etdecl" and problem.loc.line == 3
    assert "etdecl migrate" in problem.hint


def test_a_version_1_child_of_a_version_0_parent_points_at_the_parent(tmp_path) -> None:
    write(tmp_path / "_old.yaml", "data:\n  train: {path: t.jsonl, label: stars}\n")
    child = write(tmp_path / "child.yaml", "etdecl: 1\nextends: _old.yaml\nname: c\n"
                  "encoders: {plm: {type: hf, model: minilm-l6}}\n"
                  "heads: {cls: {type: classify, input: plm, labels: [a, b]}}\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(child, check_data=False)
    [problem] = info.value.problems
    assert problem.loc.file.endswith("_old.yaml") and problem.loc.line == 2
    assert "_old.yaml" in problem.hint
    migrated = mig.migrate_text((tmp_path / "_old.yaml").read_text(), "_old.yaml")
    write(tmp_path / "_old.yaml", migrated.text)
    assert load_recipe(child, check_data=False).recipe.data.fields.label == "stars"


def test_a_dev_mapping_that_differs_is_a_located_error(runner, tmp_path) -> None:
    text = SKETCH_V0.replace("{path: dev.jsonl}", "{path: dev.jsonl, label: rating}")
    recipe = write(tmp_path / "old.yaml", text)
    result = runner.invoke(app, ["migrate", str(recipe)])
    assert result.exit_code == 1
    assert f"{recipe}:6:" in result.stderr or "old.yaml:6:" in result.stderr
    assert "data.dev maps 'label' to 'rating', but data.train maps it to 'label'" in result.stderr
    assert recipe.read_text() == text  # nothing written


def test_a_dev_only_mapping_that_is_not_the_default_is_an_error() -> None:
    text = "name: x\ndata:\n  train: {path: a.jsonl}\n  dev: {path: b.jsonl, text: body}\n"
    with pytest.raises(RecipeError) as info:
        mig.migrate_text(text, "x.yaml")
    [problem] = info.value.problems
    assert (problem.loc.line, problem.path) == (4, "data.dev.text")
    assert "the default maps it to 'text'" in problem.message


def test_check_reports_and_changes_nothing(runner, tmp_path) -> None:
    old = write(tmp_path / "old.yaml", SKETCH_V0)
    new = write(tmp_path / "new.yaml", SKETCH_V1)
    result = runner.invoke(app, ["migrate", "--check", str(old), str(new)])
    assert result.exit_code == 1
    assert "needs migrating (version 0 -> 1)" in result.stdout
    assert old.read_text() == SKETCH_V0
    assert runner.invoke(app, ["migrate", "--check", str(new)]).exit_code == 0
    assert runner.invoke(app, ["migrate", "--check", "recipes/"]).exit_code == 0


def test_output_elsewhere_or_to_stdout(runner, tmp_path) -> None:
    old = write(tmp_path / "old.yaml", SKETCH_V0)
    out = tmp_path / "out" / "new.yaml"
    assert runner.invoke(app, ["migrate", str(old), "-o", str(out)]).exit_code == 0
    assert out.read_text() == SKETCH_V1 and old.read_text() == SKETCH_V0
    result = runner.invoke(app, ["migrate", str(old), "-o", "-"])
    assert result.exit_code == 0 and result.stdout == SKETCH_V1
    both = runner.invoke(app, ["migrate", str(old), str(out), "-o", "x.yaml"])
    assert both.exit_code == 1 and "--output takes one recipe file" in both.stderr


def test_children_without_etdecl_inherit_the_version() -> None:
    text = "extends: parent.yaml\nname: child\n"
    assert mig.recipe_version({"extends": "p.yaml", "name": "c"}) == mig.CURRENT
    assert not mig.migrate_text(text, "child.yaml").needed
    assert mig.recipe_version({"name": "c"}) == 0


def test_newer_and_nonsense_versions_are_refused() -> None:
    with pytest.raises(RecipeError, match="newer than this etdecl"):
        mig.migrate_text("etdecl: 7\nname: x\n", "x.yaml")
    with pytest.raises(RecipeError, match="not a format version"):
        mig.migrate_text("etdecl: one\nname: x\n", "x.yaml")


def test_tags_are_refused_before_anything_is_edited(tmp_path) -> None:
    marker = tmp_path / "owned"
    text = f'name: !!python/object/apply:os.system ["touch {marker}"]\n'
    with pytest.raises(RecipeError, match="YAML tags are not allowed"):
        mig.migrate_text(text, "x.yaml")
    assert not marker.exists()


def test_steps_form_a_chain_and_run_in_order(monkeypatch) -> None:
    assert sorted(mig.MIGRATIONS) == list(range(mig.CURRENT))
    for version, step in mig.MIGRATIONS.items():
        assert step.to_version == version + 1 and step.summary
    with pytest.raises(ValueError, match="two migrations"):
        mig.migration(from_version=0, summary="again")(lambda doc, file: [])
    # a future step slots in: 1 -> 2 runs after 0 -> 1
    steps = dict(mig.MIGRATIONS)
    monkeypatch.setattr(mig, "MIGRATIONS", steps)
    monkeypatch.setattr(mig, "CURRENT", 2)

    @mig.migration(from_version=1, summary="rename train.lr to train.learning_rate")
    def _v1_to_v2(doc, file):
        doc["etdecl"] = 2
        doc["train"]["learning_rate"] = doc["train"].pop("lr")
        return ["train.lr -> train.learning_rate"]

    result = mig.migrate_text(SKETCH_V0, "x.yaml")
    assert (result.from_version, result.to_version) == (0, 2)
    assert result.changes[0] == "added 'etdecl: 1' at the top"
    assert result.changes[-1] == "train.lr -> train.learning_rate"
    assert "etdecl: 2\n" in result.text and "learning_rate: 3.0e-5" in result.text


@pytest.mark.parametrize("indent", [2, 4])
def test_indentation_is_kept(indent: int) -> None:
    pad = " " * indent
    text = (f"name: x\ndata:\n{pad}train:\n{pad * 2}path: a.jsonl\n{pad * 2}text: body\n"
            f"heads:\n{pad}cls:\n{pad * 2}labels:\n{pad * 2}- a\n{pad * 2}- b\n")
    out = mig.migrate_text(text, "x.yaml").text
    assert f"\n{pad}fields:\n{pad * 2}text: body\n" in out
    assert f"\n{pad * 2}- a\n" in out
