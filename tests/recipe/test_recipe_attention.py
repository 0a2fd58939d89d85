"""`encoders.*.attention`: random sparse attention that could not run is a located error in
`validate`, before torch loads; options that would do nothing are located warnings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from etdecl.recipe.errors import Problem, RecipeError
from etdecl.recipe.validate import load_recipe

CONFIG = ("{{model_type: {kind}, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4,"
          " intermediate_size: 64{extra}}}")


def write(folder: Path, attention: str, *, kind: str = "bert", extra: str = "",
          max_length: int = 512, parallel: str = "") -> Path:
    (folder / "train.jsonl").write_text('{"text": "a fine film", "label": "pos"}\n')
    path = folder / "recipe.yaml"
    config = CONFIG.format(kind=kind, extra=extra)
    path.write_text(
        "etdecl: 1\nname: rsa\ndata:\n  train: {path: train.jsonl}\n"
        f"  max_length: {max_length}\n"
        "encoders:\n  plm:\n    type: hf\n    tokenizer: minilm-l6\n"
        f"    config: {config}\n"
        f"    attention: {attention}\n"
        "heads:\n  cls: {type: classify, input: plm, labels: [neg, pos]}\n" + parallel)
    return path


def problems(path: Path) -> list[Problem]:
    try:
        return load_recipe(path).warnings
    except RecipeError as err:
        return err.problems


def value_at(path: Path, key: str) -> tuple[int, int]:
    """Line and column of the value of `key` in the attention line (1-based)."""
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip().startswith("attention:") and f"{key}:" in line:
            at = re.search(rf"[{{ ]{key}: *", line)
            assert at is not None
            return i, at.end() + 1
    raise AssertionError(key)


@pytest.mark.parametrize(("attention", "kw", "key", "words"), [
    ("{type: rsa}", {"kind": "distilbert"}, "type", "'distilbert' model"),
    ("{type: rsa}", {"kind": "albert"}, "type", "'albert' model"),
    ("{type: rsa}", {"extra": ", position_embedding_type: relative_key"}, "type",
     "absolute position"),
    ("{type: rsa, block: 512}", {}, "block", "whole sequence"),
    ("{type: rsa, block: 1024}", {}, "block", "whole sequence"),
    ("{type: rsa, block: 128, random_blocks: 2, local_blocks: 3}", {}, "random_blocks",
     "more than the 4 blocks"),
    ("{type: rsa, block: 200, local_blocks: 4}", {}, "local_blocks", "more than the 3 blocks"),
    ("{type: rsa, block: 64, random_blocks: 9}", {}, "random_blocks", "more than the 8 blocks"),
    ("{type: rsa, block: 16}", {"parallel": "parallel: {plugin: hybrid, tp: 2}\n"}, "type",
     "tp > 1"),
    ("{type: rsa, block: 16}", {"parallel": "parallel: {plugin: hybrid, pp: 2}\n"}, "type",
     "pp > 1"),
], ids=["distilbert", "albert", "relative", "block=max", "block>max", "too-many-random",
        "too-many-local", "too-many-default-local", "tp", "pp"])
def test_rsa_that_cannot_run_is_a_located_error(tmp_path, attention, kw, key, words):
    path = write(tmp_path, attention, **kw)
    errors = [p for p in problems(path) if p.severity == "error"
              and p.path.startswith("encoders.plm.attention")]
    assert len(errors) == 1, [p.render() for p in problems(path)]
    err = errors[0]
    assert err.path == f"encoders.plm.attention.{key}"
    assert words in err.render()
    assert (err.loc.line, err.loc.col) == value_at(path, key), err.render()
    assert str(path.name) in str(err.loc)


@pytest.mark.parametrize("attention", [
    "{type: rsa}", "{type: rsa, block: 16, random_blocks: 3, local_blocks: 3, seed: 4}",
    "{type: rsa, block: 128, random_blocks: 1, local_blocks: 3}", "{type: dense}",
])
def test_rsa_that_fits_validates_clean(tmp_path, attention):
    assert problems(write(tmp_path, attention)) == []


@pytest.mark.parametrize("key", ["block", "random_blocks", "local_blocks", "seed"])
def test_block_options_under_dense_are_a_located_warning(tmp_path, key):
    path = write(tmp_path, f"{{type: dense, {key}: 5}}")  # 5: no option's default
    found = problems(path)
    assert [p.severity for p in found] == ["warning"], [p.render() for p in found]
    assert found[0].path == f"encoders.plm.attention.{key}"
    assert (found[0].loc.line, found[0].loc.col) == value_at(path, key)
