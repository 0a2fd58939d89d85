"""Tower recipes that could not be built, or data they could not route, are located errors
in `validate` (file:line:col of the key to change), before anything trains."""

from __future__ import annotations

from pathlib import Path

import pytest
from tower_recipes import ADV, tower_recipe, write_tower_recipe

from etdecl.recipe.errors import Problem, RecipeError
from etdecl.recipe.validate import load_recipe

SS = ("  s: {type: shared, input: enc}\n"
      "  p: {type: private, input: enc, copy: top, top_layers: 1}\n"
      f"  ss: {{type: shared_private, shared: s, private: p, {ADV}}}\n")
NO_DOMAINS = ("  domains: [a, b]\n", "")
NO_FIELD = ("fields: {text: text, label: label, domain: domain}",
            "fields: {text: text, label: label}")


def _problems(path: Path) -> list[Problem]:
    try:
        loaded = load_recipe(path)
    except RecipeError as err:
        return [p for p in err.problems if p.severity == "error"]
    return [p for p in loaded.warnings if p.severity == "error"]


def _line_of(text: str, marker: str) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), 1) if marker in line]
    assert lines, marker
    return lines[0]


CASES = [
    # (id, towers, head node, replacements, message words, marker of the located line)
    ("unknown-tower-input", "  p: {type: private, input: encc, copy: full}\n", "p", [],
     "tower 'p' reads 'encc', which is not a declared encoder or tower", "input: encc"),
    ("unknown-head-input", "  s: {type: shared, input: enc}\n", "shared", [],
     "head 'cls' reads 'shared', which is not a declared encoder or tower", "input: shared"),
    ("cycle", "  a: {type: shared, input: b}\n  b: {type: shared, input: a}\n", "a", [],
     "cycle: a → b → a", "b: {type: shared"),
    ("private-without-domains", "  p: {type: private, input: enc, copy: full}\n", "p",
     [NO_DOMAINS], "private tower, which needs the domains declared", "p: {type: private"),
    ("drss-without-domains", "  s: {type: shared, input: enc}\n  d: {type: drss, shared: s}\n",
     "d", [NO_DOMAINS], "drss tower, which needs the domains declared", "d: {type: drss"),
    ("adversarial-without-domains", SS, "ss", [NO_DOMAINS],
     "an adversarial part, which needs the domains declared", "ss: {type: shared_private"),
    ("private-without-domain-field", "  p: {type: private, input: enc, copy: full}\n", "p",
     [NO_FIELD], "reads tower 'p', which needs each row's domain, but dataset 'main' has none",
     "cls: {type: classify"),
    ("adversarial-without-domain-field", SS, "ss", [NO_FIELD],
     "reads tower 'ss', which needs each row's domain", "cls: {type: classify"),
    ("dataset-domain-not-declared", "  p: {type: private, input: enc, copy: full}\n", "p",
     [NO_FIELD, ("  max_length: 16\n", "  max_length: 16\n  domain: c\n")],
     "domain 'c' is not one of data.domains", "domain: c"),
    ("top-layers-too-many", "  p: {type: private, input: enc, copy: top, top_layers: 2}\n", "p",
     [], "encoder 'enc' has 2 layers; copying 2 leaves none shared", "top_layers: 2"),
    ("small-without-small", "  p: {type: private, input: enc, copy: small}\n", "p", [],
     "copy: small needs the per-domain encoder under `small:`", "copy: small"),
    ("private-reads-a-tower", "  s: {type: shared, input: enc}\n"
     "  p: {type: private, input: s, copy: full}\n", "p", [],
     "private tower 'p' copies or reads an encoder, and 's' is a tower", "input: s, copy"),
    ("tower-named-like-an-encoder", "  enc: {type: shared, input: enc}\n", "enc", [],
     "tower 'enc' has the name of an encoder", "  enc: {type: shared"),
    ("towers-and-tp", "  s: {type: shared, input: enc}\n", "s",
     [("\ntrain: {", "\nparallel: {plugin: hybrid, tp: 2}\ntrain: {")],
     "tp > 1 splits one encoder's layers; this graph has towers", "parallel:"),
]


@pytest.mark.parametrize(("towers", "node", "replace", "words", "marker"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_tower_problem_is_a_located_error(towers, node, replace, words, marker, tmp_path):
    text = tower_recipe("case", towers, node)
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    path = write_tower_recipe(tmp_path, "case", text)
    found = [p for p in _problems(path) if words in p.message]
    assert found, [p.message for p in _problems(path)]
    loc = found[0].loc
    assert loc is not None and Path(loc.file).name == "case.yaml"
    assert loc.line == _line_of(text, marker), (str(loc), found[0].message)
    assert loc.col >= 1
    assert f"case.yaml:{loc.line}:{loc.col}" in found[0].render()


def test_adversarial_needs_domains_wherever_it_sits(tmp_path):
    """`drss` with an adversary and no data.domains: one error, at the tower."""
    towers = f"  s: {{type: shared, input: enc}}\n  d: {{type: drss, shared: s, {ADV}}}\n"
    text = tower_recipe("case", towers, "d").replace(*NO_DOMAINS)
    path = write_tower_recipe(tmp_path, "case", text)
    msgs = [p.message for p in _problems(path)]
    assert sum("needs the domains declared" in m for m in msgs) == 1, msgs


@pytest.mark.parametrize("name", ["shared", "private-full", "private-top",
                                  "private-small-bilstm", "shared-private-adv-orth", "drss-adv"])
def test_good_tower_recipes_validate_clean(name, tmp_path):
    path = write_tower_recipe(tmp_path, name)
    loaded = load_recipe(path)
    assert not [p for p in loaded.warnings if p.severity == "error"]
    assert not loaded.warnings, [p.message for p in loaded.warnings]


def test_a_structural_error_in_a_tower_does_not_hide_other_problems(tmp_path):
    """A misspelt key in one tower: the other towers' and heads' problems are still found."""
    text = tower_recipe("shared-private-adv-orth").replace(
        "shared: s, private: p,", "shared: s, private: pp, bogus: 1,").replace(
        "  s: {type: shared, input: enc}", "  s: {type: shared, input: enc, extra: 2}")
    path = write_tower_recipe(tmp_path, "case", text)
    msgs = [p.message for p in _problems(path)]
    assert any("unknown key 'bogus'" in m for m in msgs), msgs
    assert any("unknown key 'extra'" in m for m in msgs), msgs
    assert any("reads 'pp', which is not a declared encoder or tower" in m for m in msgs), msgs
