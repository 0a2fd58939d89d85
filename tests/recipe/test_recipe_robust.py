"""Whatever text a recipe file holds, the loader answers with located problems, never a crash.

Also the YAML conveniences recipes may use (anchors, aliases, merge keys) and where their
values are reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etdecl.recipe.errors import RecipeError
from etdecl.recipe.show import render_resolved
from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "tests" / "assets"
SEEDS = sorted(p.read_text(encoding="utf-8") for p in
               [*ASSETS.glob("malformed/*.yaml"), *ASSETS.glob("valid/*.yaml")]
               if p.name != "non_utf8.yaml")
VALID = sorted(p.read_text(encoding="utf-8") for p in ASSETS.glob("valid/*.yaml"))
seeds = st.one_of(st.sampled_from(SEEDS), st.sampled_from(VALID))  # valid ones often enough
TOKENS = [":", "- ", "[", "]", "{", "}", ",", '"', "'", "&a ", "*a", "!!str ", "!x ", "<<: *a",
          "? ", "|", ">", "\n", "  ", "\t", "#", "---\n", "...\n", "null", "~", "1e400", "-1",
          "true", "type: hf", "extends: x.yaml", "%YAML 1.2\n", "\x00", "\ufeff", "\r", "é"]

edits = st.lists(st.tuples(st.floats(0, 1), st.sampled_from(["insert", "delete", "swap"]),
                           st.sampled_from(TOKENS)), min_size=1, max_size=4)
overrides = st.sampled_from([[], ["train.lr=3e-5"], ["heads.cls.labels[0]=x"],
                             ["encoders.plm={type: hf}"], ["a.b[0]=1"], ["name.x=1"]])


def mutate(text: str, steps: list[tuple[float, str, str]]) -> str:
    for where, op, token in steps:
        at = int(where * len(text))
        if op == "insert":
            text = text[:at] + token + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + len(token):]
        else:  # move one line to another place
            lines = text.splitlines(keepends=True)
            if len(lines) > 1:
                line = lines.pop(at % len(lines))
                lines.insert(len(token) % len(lines), line)
            text = "".join(lines)
    return text


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=seeds, steps=edits, sets=overrides)
def test_mutated_recipes_give_located_problems(tmp_path: Path, seed: str, steps, sets) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(mutate(seed, steps), encoding="utf-8")
    try:
        loaded = load_recipe(path, sets, check_data=False)
    except RecipeError as err:
        assert err.problems
        for problem in err.problems:
            assert problem.loc is not None, problem
            if problem.loc.file.endswith("recipe.yaml"):  # in the file: always line and column
                assert problem.loc.line >= 1 and problem.loc.col >= 1, problem.render()
        return
    # A mutation that still loads is a recipe like any other: the override took effect, and its
    # resolved form (what a run directory keeps) loads again to the same fingerprint.
    if sets == ["train.lr=3e-5"]:
        assert loaded.recipe.train.lr == 3e-5
    resolved = tmp_path / "resolved.yaml"
    resolved.write_text(render_resolved(loaded), encoding="utf-8")
    again = load_recipe(resolved, check_data=False)
    assert again.fingerprint == loaded.fingerprint, render_resolved(loaded)
    assert again.recipe == loaded.recipe


# ── anchors, aliases, merge keys ─────────────────────────────────────────────────────────────

ANCHORS = """\
etdecl: 1
name: anchors
data:
  train: &rows {path: ../data/train.jsonl}
  dev: *rows
encoders:
  plm:
    <<: &hf {type: hf, model: minilm-l6}
heads:
  cls:
    <<: {type: classify, input: plm}
    labels: [neg, pos]
"""


def test_anchors_and_merge_keys_are_allowed(tmp_path: Path) -> None:
    (tmp_path / "valid").mkdir()
    path = tmp_path / "valid" / "anchors.yaml"
    path.write_text(ANCHORS)
    loaded = load_recipe(path, check_data=False)
    assert loaded.recipe.data.dev == loaded.recipe.data.train
    assert loaded.recipe.encoders["plm"].model == "minilm-l6"
    assert loaded.recipe.heads["cls"].input == "plm"
    # A merged value is located where it is written: inside the merged mapping.
    where = loaded.where("encoders", "plm", "model")
    line = ANCHORS.splitlines()[7]
    assert (where.line, where.col) == (8, line.index("minilm-l6") + 1)


def test_mapping_holding_only_a_merge_key(tmp_path: Path) -> None:
    """A mapping made of nothing but `<<:` (ruamel keeps no positions for it) is located too."""
    path = tmp_path / "recipe.yaml"
    path.write_text(ANCHORS.replace("heads:", "  aux:\n    <<: {type: hf, polling: mean}\nheads:"))
    with pytest.raises(RecipeError) as info:
        load_recipe(path, check_data=False)
    # The encoder also names no model: a cross-field error reported in the same run.
    source, problem = [p for p in info.value.problems if p.severity == "error"]
    assert source.path == "encoders.aux" and "needs 'model'" in source.message
    assert (problem.path, problem.loc.line, problem.loc.col) == ("encoders.aux.polling", 10, 20)
    assert problem.hint == "did you mean 'pooling'?"


@pytest.mark.parametrize(("text", "line", "col"), [
    ("etdecl: 1\nheads:\n  ? cls: {type: classify}\n  : 1\n", 3, 5),
    ("etdecl: 1\nheads:\n  ? {cls: 1}\n  : 1\n", 3, 5),
    ("etdecl: 1\nheads:\n  ? [a, b]\n  : 1\n", 3, 5),
])
def test_complex_keys_are_located(tmp_path: Path, text: str, line: int, col: int) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError) as info:
        load_recipe(path, check_data=False)
    [problem] = info.value.problems
    assert problem.message == "mapping keys must be strings"
    assert (problem.loc.line, problem.loc.col) == (line, col)
