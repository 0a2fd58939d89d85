"""`data.domains` and the settings that read domains are checked before training: located
recipe errors for names the recipe writes, and a DataError naming file:line for a row of an
undeclared domain, at validate (first rows) and when the data is loaded (every row)."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_support import synthetic_rows, write_jsonl

from etdecl.datafiles.readers import DataError
from etdecl.recipe.errors import RecipeError
from etdecl.recipe.validate import load_recipe

HEAD = """\
encoders:
  enc: {type: textcnn, tokenizer: minilm-l6, embedding_dim: 16, channels: 8}
heads:
  cls: {type: classify, input: enc, labels: [neg, pos]}
"""


def _problems(tmp_path: Path, data: str, train: str = "", check_data: bool = False,
              rows: list[dict] | None = None) -> tuple[list, Path]:
    write_jsonl(tmp_path / "train.jsonl", rows or synthetic_rows(40, 1))
    write_jsonl(tmp_path / "dev.jsonl", synthetic_rows(20, 2))
    recipe = tmp_path / "r.yaml"
    head = HEAD.replace("labels: [neg, pos]", "labels: [neg, pos], data: [src, tgt]") \
        if "sets:" in data else HEAD
    recipe.write_text("etdecl: 1\nname: d\ndata:\n" + data + head
                      + (f"train:\n{train}" if train else ""))
    try:
        loaded = load_recipe(recipe, [], check_data=check_data)
    except RecipeError as err:
        return err.problems, recipe
    return list(loaded.warnings), recipe


def _line(recipe: Path, text: str) -> int:
    return next(i for i, line in enumerate(recipe.read_text().splitlines(), 1) if text in line)


ONE = "  train: {path: train.jsonl}\n  dev: {path: dev.jsonl}\n"
SETS = ("  sets:\n    src: {train: {path: train.jsonl}, dev: {path: dev.jsonl}, domain: %s}\n"
        "    tgt: {train: {path: train.jsonl}, dev: {path: dev.jsonl}, domain: %s}\n")


@pytest.mark.parametrize(("data", "train", "path", "marker", "words"), [
    (ONE + "  fields: {domain: domain}\n  domains: [a, b, a]\n", "", "data.domains[2]",
     "domains:", "listed twice"),
    (ONE + "  domains: [a, b]\n", "", "data.domains", "domains:", "no dataset says which"),
    (SETS % ("a", "c") + "  domains: [a, b]\n", "", "data.sets.tgt.domain", "tgt:",
     "'c' is not one of data.domains"),
    (ONE + "  domain: c\n  domains: [a, b]\n", "", "data.domain", "domain: c",
     "'c' is not one of data.domains"),
    (ONE + "  fields: {domain: domain}\n  domains: [a, b]\n  target_domain: bb\n", "",
     "data.target_domain", "target_domain", "did you mean 'b'"),
    (ONE + "  target_domain: b\n", "", "data.target_domain", "target_domain",
     "no dataset has domains"),
    (SETS % ("a", "b") + "  target_domain: c\n", "", "data.target_domain", "target_domain",
     "no dataset is of domain 'c'"),
    (ONE, "  sampling: domain_balanced\n", "train.sampling", "sampling",
     "needs rows with domains"),
    (ONE + "  fields: {domain: domain}\n  domains: [a, b]\n",
     "  metric: cls.accuracy[c]\n", "train.metric", "metric", "'c' is not one of data.domains"),
])
def test_recipe_domain_mistakes_are_located_errors(tmp_path, data, train, path, marker, words):
    problems, recipe = _problems(tmp_path, data, train)
    errors = [p for p in problems if p.severity == "error"]
    assert [p.path for p in errors] == [path], [p.render() for p in problems]
    rendered = errors[0].render()
    assert f"r.yaml:{_line(recipe, marker)}:" in rendered and words in rendered, rendered


@pytest.mark.parametrize(("data", "train"), [
    (ONE + "  fields: {domain: domain}\n  domains: [a, b]\n  target_domain: b\n",
     "  sampling: domain_balanced\n  metric: cls.macro_f1[a]\n"),
    (SETS % ("a", "b") + "  domains: [b, a]\n  target_domain: b\n", ""),
    (ONE + "  fields: {domain: domain}\n  target_domain: a\n", ""),
])
def test_consistent_domain_settings_validate_clean(tmp_path, data, train):
    problems, _ = _problems(tmp_path, data, train, check_data=True)
    assert problems == [], [p.render() for p in problems]


def test_one_domain_per_dataset_warns_that_balancing_does_nothing(tmp_path):
    problems, recipe = _problems(tmp_path, SETS % ("a", "b"), "  sampling: domain_balanced\n")
    assert [(p.path, p.severity) for p in problems] == [("train.sampling", "warning")]
    assert "round_robin" in problems[0].render()


def test_tag_head_entity_type_named_like_a_domain_is_located(tmp_path):
    problems, recipe = _problems(
        tmp_path, ONE + "  fields: {domain: domain}\n  domains: [a, PER]\n")
    assert problems == []
    text = recipe.read_text().replace(
        "cls: {type: classify, input: enc, labels: [neg, pos]}",
        "ner: {type: tag, input: enc, labels: [O, B-PER, I-PER]}")
    recipe.write_text(text)
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe, [], check_data=False)
    assert [p.path for p in err.value.problems] == ["data.domains"]
    assert "f1[PER]" in str(err.value) and f"r.yaml:{_line(recipe, 'domains:')}:" in str(err.value)


def test_validate_names_the_first_row_of_an_undeclared_domain(tmp_path):
    rows = synthetic_rows(40, 1)
    rows[2]["domain"] = "kitchen"
    problems, recipe = _problems(
        tmp_path, ONE + "  fields: {domain: domain}\n  domains: [a, b]\n", check_data=True,
        rows=rows)
    assert [p.path for p in problems] == ["data.domains"], [p.render() for p in problems]
    rendered = problems[0].render()
    assert "train.jsonl:3: data error: domain 'kitchen'" in rendered, rendered
    assert f"r.yaml:{_line(recipe, 'domains:')}:" in rendered


@pytest.mark.parametrize("at", [0, 17, 39])
def test_loading_a_row_of_an_undeclared_domain_is_a_data_error_with_its_line(tmp_path, at):
    from etdecl.data.examples import load_splits

    rows = synthetic_rows(40, 1)
    rows[at]["domain"] = "kitchen"
    _, recipe = _problems(tmp_path, ONE + "  fields: {domain: domain}\n  domains: [a, b]\n",
                          rows=rows)
    loaded = load_recipe(recipe, [], check_data=False)
    with pytest.raises(DataError) as err:
        load_splits(loaded)
    assert err.value.line == at + 1 and err.value.file.endswith("train.jsonl")
    assert "domain 'kitchen'" in str(err.value) and "data.domains (a, b)" in str(err.value)


def test_without_declared_domains_every_domain_is_read(tmp_path):
    from etdecl.data.examples import load_splits

    rows = synthetic_rows(40, 1)
    rows[5]["domain"] = "kitchen"
    _, recipe = _problems(tmp_path, ONE + "  fields: {domain: domain}\n", rows=rows)
    splits = load_splits(load_recipe(recipe, [], check_data=False))
    assert {e.domain for e in splits.train} == {"a", "b", "kitchen"}


def test_under_skip_rows_of_undeclared_domains_are_counted_and_left_out(tmp_path):
    from etdecl.data.examples import load_splits

    rows = synthetic_rows(40, 1)
    for i in (4, 9):
        rows[i]["domain"] = "kitchen"
    _, recipe = _problems(tmp_path, ONE + "  fields: {domain: domain}\n  domains: [a, b]\n"
                          "  on_bad_row: skip\n", rows=rows)
    splits = load_splits(load_recipe(recipe, [], check_data=False))
    assert len(splits.train) == 38 and {e.domain for e in splits.train} == {"a", "b"}
    assert sum(n for k, n in splits.skipped.items() if "data.domains" in k) == 2
