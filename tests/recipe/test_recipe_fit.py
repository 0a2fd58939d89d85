"""`validate` catches what training would reject: labels the head does not list, max_length past
the encoder's positions, hub ids that are no folder, and data that is not JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etdecl.recipe.errors import Problem, RecipeError
from etdecl.recipe.validate import load_recipe

ENCODER = "  plm: {type: hf, model: minilm-l6, pooling: mean}\n"
TINY = ("  plm: {{type: hf, tokenizer: minilm-l6, config: {{model_type: {kind}, hidden_size: 32,\n"
        "        num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 64{extra}}}}}\n")


def recipe(folder: Path, *, train: str = "train.jsonl", extra_data: str = "",
           labels: str = "[neg, pos]", encoder: str = ENCODER) -> Path:
    path = folder / "recipe.yaml"
    path.write_text(
        "etdecl: 1\nname: fit\ndata:\n"
        f"  train: {{path: {train}}}\n{extra_data}"
        "encoders:\n" + encoder +
        f"heads:\n  cls: {{type: classify, input: plm, labels: {labels}}}\n")
    return path


def rows(folder: Path, name: str, items: list[dict]) -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in items))
    return path


def problems(path: Path, *overrides: str) -> list[Problem]:
    try:
        loaded = load_recipe(path, list(overrides))
    except RecipeError as err:
        return err.problems
    return loaded.warnings


def line_of(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if needle in t)


# ── labels in the data that the head does not list ───────────────────────────────────────────

GOOD = {"text": "fine", "label": "pos"}


@pytest.mark.parametrize(("label", "labels", "found", "hint"), [
    ("Positive", "[negative, positive]", "Positive", "did you mean 'positive'?"),
    ("neutral", "[neg, pos]", "neutral", None),
    (True, "[yes, no]", "true", None),            # compared as training does: `true`
    (1, "[neg, pos]", "1", None),
    ("poss", "[neg, pos]", "poss", "did you mean 'pos'?"),
], ids=["case", "unlisted", "boolean", "number", "typo"])
def test_unknown_label_names_file_line_value_and_labels(tmp_path, label, labels, found,
                                                        hint) -> None:
    first = {"text": "fine", "label": labels.strip("[]").split(", ")[0]}
    data = rows(tmp_path, "train.jsonl", [first, {"text": "x", "label": label}])
    path = recipe(tmp_path, labels=labels)
    [p] = problems(path)
    assert p.severity == "error" and p.path == "heads.cls.labels"
    assert p.loc.line == line_of(path, "labels:")
    assert p.message == f"{data}:2: data error: label '{found}' is not one of the head's labels"
    assert p.found == f"'{found}'"
    for name in labels.strip("[]").split(", "):
        assert f"'{name}'" in p.expected
    assert p.hint == hint if hint is None else p.hint.startswith(hint)


def test_unknown_label_in_dev_csv_and_each_value_once(tmp_path) -> None:
    rows(tmp_path, "train.jsonl", [GOOD])
    (tmp_path / "dev.csv").write_text("text,label\na,pos\nb,meh\nc,meh\nd,bad\n")
    path = recipe(tmp_path, extra_data="  dev: {path: dev.csv}\n")
    found = problems(path)
    assert [(p.found, f"dev.csv:{n}" in p.message) for p, n in zip(found, (3, 5), strict=True)] \
        == [("'meh'", True), ("'bad'", True)]


def test_rows_that_where_filters_out_are_not_checked(tmp_path) -> None:
    rows(tmp_path, "train.jsonl", [{**GOOD, "kind": "review"},
                                   {"text": "plot", "label": "plot", "kind": "summary"}])
    path = recipe(tmp_path, extra_data="  where: {kind: [review]}\n")
    assert problems(path) == []
    assert [p.found for p in problems(path, "data.where={kind: [review, summary]}")] == ["'plot'"]


def test_unknown_label_under_skip_is_a_warning(tmp_path) -> None:
    rows(tmp_path, "train.jsonl", [GOOD, {"text": "x", "label": "meh"}])
    [p] = problems(recipe(tmp_path, extra_data="  on_bad_row: skip\n"))
    assert p.severity == "warning" and "skipped" in p.message


# ── max_length against the encoder's position embeddings ────────────────────────────────────


def _model_folder(tmp_path: Path, positions: int) -> str:
    folder = tmp_path / "models" / "small"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert",
                                                    "max_position_embeddings": positions}))
    return "  plm: {type: hf, model: ./models/small, tokenizer: minilm-l6}\n"


@pytest.mark.parametrize(("encoder", "max_length", "limit", "source"), [
    (TINY.format(kind="bert", extra=", max_position_embeddings: 64"), 128, 64, "its config"),
    (TINY.format(kind="bert", extra=""), 1024, 512, "its config"),           # transformers' default
    (TINY.format(kind="roberta", extra=", max_position_embeddings: 66"), 65, 64, "its config"),
    (ENCODER, 600, 512, "config.json"),                                      # the alias's folder
    ("folder:32", 48, 32, "config.json"),
], ids=["config", "config-default", "roberta-offset", "alias", "folder"])
def test_max_length_beyond_positions(tmp_path, encoder, max_length, limit, source) -> None:
    rows(tmp_path, "train.jsonl", [GOOD])
    if encoder.startswith("folder:"):
        encoder = _model_folder(tmp_path, int(encoder.split(":")[1]))
    path = recipe(tmp_path, encoder=encoder, extra_data=f"  max_length: {max_length}\n")
    [p] = [p for p in problems(path) if p.path == "data.max_length"]
    assert f"({max_length})" in p.message and f"{limit} tokens" in p.message
    assert source in p.message and p.loc.line == line_of(path, "max_length:")
    assert problems(path, f"data.max_length={limit}") == []


def test_default_max_length_points_at_the_encoder(tmp_path) -> None:
    rows(tmp_path, "train.jsonl", [GOOD])
    path = recipe(tmp_path, encoder=TINY.format(kind="bert", extra=", max_position_embeddings: 64"))
    [p] = problems(path)
    assert p.path == "encoders.plm.config" and "(128)" in p.message and "64 tokens" in p.message


# ── hub ids ──────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("value", "hint"), [
    ("sentence-transformers/all-MiniLM-L6-v2",
     "use the registered alias 'minilm-l6', which ships sentence-transformers/all-MiniLM-L6-v2"),
    ("Sentence-Transformers/all-minilm-l6-v2", "use the registered alias 'minilm-l6'"),
    ("sentence-transformers/all-MiniLM-L12-v2",
     "did you mean 'minilm-l6'? (the registered alias for sentence-transformers/all-MiniLM-L6-v2)"),
    ("google/bert-base-uncased", "download the model into a folder"),
])
@pytest.mark.parametrize("key", ["model", "tokenizer"])
def test_hub_id_that_is_no_folder(tmp_path, value, hint, key) -> None:
    rows(tmp_path, "train.jsonl", [GOOD])
    path = recipe(tmp_path, encoder=f"  plm: {{type: hf, {key}: {value}, model: minilm-l6}}\n"
                  if key == "tokenizer" else f"  plm: {{type: hf, model: {value}}}\n")
    [p] = problems(path)
    assert p.severity == "error" and p.path == f"encoders.plm.{key}"
    assert "hub downloads are off" in p.message and value in p.message
    assert p.hint.startswith(hint)


def test_an_existing_org_name_folder_is_a_folder(tmp_path) -> None:
    rows(tmp_path, "train.jsonl", [GOOD])
    _model_folder(tmp_path, 512)
    path = recipe(tmp_path, encoder="  plm: {type: hf, model: models/small, "
                  "tokenizer: minilm-l6}\n")
    assert problems(path) == []


# ── data that is not JSON Lines ─────────────────────────────────────────────────────────────

ARRAY = [GOOD, {"text": "dull", "label": "neg"}]


@pytest.mark.parametrize(("name", "content", "what"), [
    ("train.json", json.dumps(ARRAY), "holds a JSON array"),
    ("train.json", json.dumps(ARRAY, indent=2), "one JSON document spread over lines"),
    ("train.json", f"[{json.dumps(GOOD)},\n{json.dumps(GOOD)}]\n", "starts a JSON array"),
    ("train.jsonl", json.dumps(GOOD, indent=2), "one JSON document spread over lines"),
    ("train.jsonl", "text,label\nfine,pos\n", "invalid JSON"),
], ids=["array", "pretty-array", "array-per-line", "pretty-object", "csv"])
@pytest.mark.parametrize("policy", ["error", "skip"])
def test_not_json_lines_says_what_is_expected(tmp_path, name, content, what, policy) -> None:
    (tmp_path / name).write_text(content)
    path = recipe(tmp_path, train=name, extra_data=f"  on_bad_row: {policy}\n")
    found = problems(path)
    assert any(what in p.message for p in found), found
    assert any("JSON Lines (one JSON object per line) is expected" in p.message for p in found)
    if what != "invalid JSON":  # a whole-file mistake, not a row to skip
        assert any(p.severity == "error" and what in p.message for p in found)
