"""What `validate` says about `selectors:` without torch: a selector naming a dataset or a
domain the recipe lacks, or missing a target, is an error at the key to change
(file:line:col); the gallery's selector recipes validate."""

from __future__ import annotations

from pathlib import Path

import pytest
from selector_support import write_select  # noqa: F401  (sys.path of the training helpers)

from etdecl.recipe.errors import Problem, RecipeError
from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]


def problems_of(path: Path) -> list[Problem]:
    try:
        loaded = load_recipe(path)
    except RecipeError as err:
        return list(err.problems)
    return [p for p in loaded.warnings if p.severity == "error"]


def located(text: str, marker: str) -> tuple[int, int]:
    """(line, column) of the `^` in `marker` in the recipe text."""
    clean = marker.replace("^", "")
    hits = [(i, line.index(clean)) for i, line in enumerate(text.splitlines(), 1)
            if clean in line]
    assert hits, f"{marker!r} not in the recipe"
    line, col = hits[0]
    return line, col + marker.index("^") + 1


def only_error(path: Path) -> Problem:
    found = problems_of(path)
    assert len(found) == 1, [p.render() for p in found]
    return found[0]


@pytest.mark.parametrize(("selector", "marker", "words"), [
    ("{type: reinforced, source: sorce}", "source: ^sorce", ["'sorce'", "does not have",
                                                             "source"]),
    ("{type: bayes, target_domain: books}", "target_domain: ^books", ["'books'", "'tgt'"]),
    ("{type: minimax, domains: [near, farr]}", "^farr", ["'farr'", "far"]),
    ("{type: reinforced, domains: [near, tgt]}", "near, ^tgt]", ["is the target"]),
])
def test_a_selector_naming_what_the_recipe_lacks_is_a_located_error(
        tmp_path, selector, marker, words):
    path = write_select(tmp_path, selector)
    problem = only_error(path)
    text = path.read_text()
    assert problem.loc is not None and problem.loc.file.endswith("select.yaml")
    assert (problem.loc.line, problem.loc.col) == located(text, marker), problem.render()
    rendered = problem.render()
    for word in words:
        assert word in rendered, rendered


def test_a_selector_without_a_target_domain_is_an_error_at_its_key(tmp_path):
    path = write_select(tmp_path, "{type: reinforced}")
    path.write_text(path.read_text().replace("  target_domain: tgt\n", "")
                    .replace("classify, input: enc,", "classify, input: enc,"))
    problem = only_error(path)
    assert (problem.loc.line, problem.loc.col) == located(path.read_text(), "^pick:")
    assert "target_domain" in problem.render()


def test_selectors_refuse_pipeline_plans(tmp_path):
    path = write_select(tmp_path, "{type: reinforced}")
    path.write_text(path.read_text() + "parallel: {plugin: hybrid, pp: 2}\n")
    found = [p for p in problems_of(path) if "selectors" in p.message]
    assert found and found[0].path == "parallel.pp"


def test_the_source_rows_must_carry_domains(tmp_path):
    path = write_select(tmp_path, "{type: reinforced}")
    text = path.read_text().replace("fields: {text: text, label: label, domain: domain}",
                                    "fields: {text: text, label: label}")
    text = text.replace("      where: {domain: [near, far]}\n", "")
    text = text.replace("      where: {domain: [tgt]}\n", "      domain: tgt\n")
    path.write_text(text)
    found = [p.render() for p in problems_of(path)]
    assert any("has none" in r and "selector 'pick'" in r for r in found), found


@pytest.mark.parametrize("name", ["bayes-amazon", "rtl-amazon", "mgtl-amazon"])
def test_gallery_selector_recipes_validate(name, monkeypatch):
    monkeypatch.setenv("ETDECL_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
    loaded = load_recipe(ROOT / "recipes" / f"{name}.yaml")
    assert "pick" in loaded.recipe.selectors
    assert loaded.recipe.data.target_domain == "books"


def test_selectors_refuse_distillation_and_warn_without_episodes(tmp_path):
    path = write_select(tmp_path, "{type: reinforced}")
    path.write_text(path.read_text() + "method: {type: distill}\n")
    found = [p for p in problems_of(path) if "selectors" in p.message]
    assert found and found[0].path == "method.type", [p.render() for p in found]
    path = write_select(tmp_path, "{type: minimax}")
    path.write_text(path.read_text().replace("  eval_every: 5\n", ""))
    warned = [p for p in load_recipe(path).warnings if p.path == "train.eval_every"]
    assert warned and "episode" in warned[0].message
