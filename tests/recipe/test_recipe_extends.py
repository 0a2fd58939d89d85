"""`extends:` merging, `--set` overrides and the origin of every value (`etdecl show --origin`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from etdecl.cli import app
from etdecl.recipe.errors import RecipeError
from etdecl.recipe.resolve import load_tree
from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "tests" / "assets"
EXTENDS = ASSETS / "extends"
BASE = ASSETS / "valid" / "base.yaml"


def line_of(path: Path, needle: str) -> int:
    """1-based line of the first line of `path` containing `needle`."""
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if needle in text:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ── merging ──────────────────────────────────────────────────────────────────────────────────


def test_child_deep_merges_its_parent() -> None:
    r = load_recipe(EXTENDS / "child.yaml").recipe
    assert r.name == "child"                              # child wins
    assert r.description == "the parent recipe"           # inherited
    assert r.data.max_length == 32                        # child, beside parent's siblings
    assert r.data.fields.label == "label"                 # parent's nested mapping kept
    assert r.data.train.path == "../data/train.jsonl"
    assert r.encoders["plm"].pooling == "mean"
    assert r.heads["cls"].labels == ["neg", "pos"]        # lists replace, never append
    assert r.heads["cls"].dropout == 0.2                  # sibling of the replaced list kept
    assert (r.train.epochs, r.train.lr, r.train.seed) == (1, 1.0e-4, 7)
    assert r.extends is None                              # extends is consumed by the merge


def test_extends_chains() -> None:
    r = load_recipe(EXTENDS / "grandchild.yaml").recipe
    assert (r.name, r.train.lr, r.train.epochs, r.train.seed) == ("grandchild", 3.0e-5, 1, 7)
    assert r.heads["cls"].labels == ["neg", "pos"]


def test_partial_parent_completed_by_child() -> None:
    loaded = load_recipe(EXTENDS / "from_partial.yaml")
    assert loaded.recipe.train.lr == 2.0e-5
    assert loaded.tree.origins[("train", "lr")].endswith("extends/_partial.yaml")


def test_list_of_parents_merges_left_to_right(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "train: {lr: 0.1, epochs: 2}\nheads: {cls: {labels: [x, y]}}\n")
    write(tmp_path / "b.yaml", "train: {lr: 0.2}\n")
    child = write(tmp_path / "c.yaml", "extends: [a.yaml, b.yaml]\nname: c\n")
    data = load_tree(child).data
    assert data == {"train": {"lr": 0.2, "epochs": 2}, "heads": {"cls": {"labels": ["x", "y"]}},
                    "name": "c"}


def test_changed_type_replaces_the_mapping(tmp_path: Path) -> None:
    write(tmp_path / "parent.yaml",
          "encoders:\n  plm: {type: hf, model: m, pooling: mean}\n  aux: {type: hf, model: a}\n")
    child = write(tmp_path / "child.yaml", "extends: parent.yaml\n"
                  "encoders:\n  plm: {type: other, size: 3}\n  aux: {type: hf, pooling: cls}\n")
    tree = load_tree(child)
    # A new type: nothing of the parent's component survives (its keys belong to another type).
    assert tree.data["encoders"]["plm"] == {"type": "other", "size": 3}
    assert ("encoders", "plm", "model") not in tree.origins
    assert ("encoders", "plm", "pooling") not in tree.values
    # The same type: merged deeply.
    assert tree.data["encoders"]["aux"] == {"type": "hf", "model": "a", "pooling": "cls"}


def test_error_in_parent_is_located_in_the_parent() -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(ASSETS / "malformed" / "extends_parent_error.yaml")
    [problem] = info.value.problems
    parent = ASSETS / "malformed" / "_bad_parent.yaml"
    assert problem.loc.file == "tests/assets/malformed/_bad_parent.yaml"
    assert problem.loc.line == line_of(parent, "lr: fast")
    assert problem.loc.col == 7


def test_child_can_fix_a_bad_parent_value(tmp_path: Path) -> None:
    child = write(tmp_path / "child.yaml",
                  f"extends: {ASSETS / 'malformed' / '_bad_parent.yaml'}\ntrain: {{lr: 1.0e-4}}\n")
    assert load_recipe(child, check_data=False).recipe.train.lr == 1.0e-4


def test_error_in_child_is_located_in_the_child(tmp_path: Path) -> None:
    child = write(tmp_path / "child.yaml",
                  f"extends: {EXTENDS / 'parent.yaml'}\ntrain:\n  epochs: 0\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(child)
    [problem] = info.value.problems
    assert (Path(problem.loc.file), problem.loc.line, problem.loc.col) == (child, 3, 11)


def test_missing_section_is_reported_in_the_extending_file(tmp_path: Path) -> None:
    """Neither file has `heads`; the recipe being validated is the one to fix."""
    child = write(tmp_path / "child.yaml", f"extends: {EXTENDS / '_partial.yaml'}\nname: c\n"
                  "encoders:\n  plm: {type: hf, model: minilm-l6}\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(child)
    [problem] = info.value.problems
    assert "missing required key 'heads'" in problem.message
    assert Path(problem.loc.file) == child


def test_gallery_prefix_and_did_you_mean(tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", "extends: gallery:quickstart\nname: mine\n")
    assert load_recipe(good, check_data=False).recipe.name == "mine"
    bad = write(tmp_path / "bad.yaml", "extends: gallery:quickstrat\nname: mine\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(bad, check_data=False)
    [problem] = info.value.problems
    assert problem.hint == "did you mean 'quickstart'?"
    assert (problem.loc.line, problem.loc.col) == (1, 10)


# ── --set overrides ──────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("spec", "path", "value"), [
    ("train.lr=3e-5", ("train", "lr"), 3e-5),
    ("train.lr=1e-3", ("train", "lr"), 1e-3),
    ("train.epochs=4", ("train", "epochs"), 4),
    ("train.deterministic=false", ("train", "deterministic"), False),
    ("train.max_steps=null", ("train", "max_steps"), None),
    ("train.clip_grad_norm=null", ("train", "clip_grad_norm"), None),
    ("heads.cls.labels=[a, b, c]", ("heads", "cls", "labels"), ["a", "b", "c"]),
    ("heads.cls.labels[1]=positive", ("heads", "cls", "labels"), ["neg", "positive"]),
    ("data.where={label: [pos, neg]}", ("data", "where"), {"label": ["pos", "neg"]}),
    ("data.fields.text_pair=null", ("data", "fields", "text_pair"), None),
    # Where the schema wants text, the text is kept as written.
    ("description=2024", ("description",), "2024"),
    ("train.output_dir=1.5", ("train", "output_dir"), "1.5"),
    ("heads.cls.labels[0]=0", ("heads", "cls", "labels"), ["0", "pos"]),
    ("name=run_7", ("name",), "run_7"),
])
def test_override_values_are_typed_by_the_schema(spec: str, path: tuple, value) -> None:
    recipe = load_recipe(BASE, [spec], check_data=False).recipe  # labels [a, b, c]: no data
    got = recipe.model_dump()
    for part in path:
        got = got[part]
    assert got == value
    assert type(got) is type(value)


def test_wrong_override_type_is_located_at_the_override() -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(BASE, ["train.epochs=abc"])
    [problem] = info.value.problems
    assert problem.loc.file == "--set train.epochs=abc"
    assert problem.path == "train.epochs"
    assert problem.expected == "an integer"
    assert str(problem.loc) == "--set train.epochs=abc"


def test_override_applies_after_extends_and_later_overrides_win() -> None:
    loaded = load_recipe(EXTENDS / "child.yaml",
                         ["train.epochs=5", "heads.cls.labels[0]=bad", "train.epochs=6"],
                         check_data=False)  # the data's 'neg' is no longer a label
    assert loaded.recipe.train.epochs == 6
    assert loaded.recipe.heads["cls"].labels == ["bad", "pos"]
    assert loaded.tree.origins[("train", "epochs")] == "--set train.epochs=6"


def test_override_can_create_a_section() -> None:
    loaded = load_recipe(BASE, ["data.dev.path=../data/train.jsonl"], check_data=False)
    assert loaded.recipe.data.dev.path == "../data/train.jsonl"
    assert loaded.tree.origins[("data", "dev", "path")] == "--set data.dev.path=../data/train.jsonl"
    # A relative data path given on the command line is relative to the working directory.
    assert loaded.origin_dir("data", "dev", "path") == Path.cwd()


def test_override_replacing_a_mapping_locates_its_children() -> None:
    spec = "encoders.plm={type: hf, model: minilm-l6, polling: mean}"
    with pytest.raises(RecipeError) as info:
        load_recipe(BASE, [spec])
    [problem] = info.value.problems
    assert (problem.path, problem.loc.file) == ("encoders.plm.polling", f"--set {spec}")
    assert problem.hint == "did you mean 'pooling'?"


# ── origins ──────────────────────────────────────────────────────────────────────────────────


def test_tree_records_the_origin_of_each_value() -> None:
    loaded = load_recipe(EXTENDS / "child.yaml", ["train.seed=9"])
    origins = loaded.tree.origins
    assert origins[("train", "epochs")] == "tests/assets/extends/child.yaml"
    assert origins[("train", "lr")] == "tests/assets/extends/parent.yaml"
    assert origins[("train", "seed")] == "--set train.seed=9"
    assert ("train", "warmup") not in origins  # a default
    assert loaded.where("train", "lr").line == line_of(EXTENDS / "parent.yaml", "lr: 1.0e-4")


def test_show_origin(runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXTENDS)
    result = runner.invoke(app, ["show", "child.yaml", "--origin", "--set", "train.seed=9"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    parent, child = EXTENDS / "parent.yaml", EXTENDS / "child.yaml"

    def origin_of(key: str, indent: int = 2) -> str:
        [comment] = re.findall(rf"^ {{{indent}}}{key}:.*#\s*(.+)$", out, flags=re.M)
        return comment.strip()

    assert origin_of("name", 0) == f"child.yaml:{line_of(child, 'name: child')}"
    assert origin_of("epochs") == f"child.yaml:{line_of(child, 'epochs: 1')}"
    assert origin_of("labels", 4) == f"child.yaml:{line_of(child, 'labels: [neg, pos]')}"
    assert origin_of("max_length") == f"child.yaml:{line_of(child, 'max_length: 32')}"
    assert origin_of("lr") == f"parent.yaml:{line_of(parent, 'lr: 1.0e-4')}"
    assert origin_of("dropout", 4) == f"parent.yaml:{line_of(parent, 'dropout: 0.2')}"
    assert origin_of("description", 0) == f"parent.yaml:{line_of(parent, 'description:')}"
    assert origin_of("warmup") == "default"
    assert origin_of("eval_batch_size") == "default"
    assert origin_of("seed") == "--set train.seed=9"
    assert out.startswith("# fingerprint: ")


def test_show_without_origin_has_no_comments(runner) -> None:
    result = runner.invoke(app, ["show", str(EXTENDS / "child.yaml")])
    assert result.exit_code == 0
    body = result.stdout.splitlines()[1:]
    assert not any("#" in line for line in body)


def test_show_reports_problems_without_traceback(runner) -> None:
    result = runner.invoke(app, ["show", str(BASE), "--set", "train.epochs=abc"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "--set train.epochs=abc: error: train.epochs: wrong type" in result.stderr
