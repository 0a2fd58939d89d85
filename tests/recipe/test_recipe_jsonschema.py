"""The published JSON Schema agrees with `etdecl validate`, as an independent validator sees it.

docs/ci.md promises that a recipe the schema accepts is structurally valid for etdecl. These
tests run `jsonschema` (not etdecl's code) over every structurally malformed fixture, over the
classes of mistake the schema used to let through (names, `type:` tags, short label lists),
and pin down the rules JSON Schema cannot express, which docs/ci.md must list.
"""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from etdecl.recipe.errors import RecipeError
from etdecl.recipe.jsonschema import SCHEMA_PATH
from etdecl.recipe.load import Tree
from etdecl.recipe.resolve import load_tree
from etdecl.recipe.structural import check_structure as structural_problems

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[2]
MALFORMED = ROOT / "tests" / "assets" / "malformed"
CI_DOC = ROOT / "docs" / "ci.md"
VALIDATOR = jsonschema.Draft202012Validator(json.loads((ROOT / SCHEMA_PATH).read_text()))
VAGUE = "is not valid under any of the given schemas"


def as_json(data: Any) -> Any:
    """The recipe as a YAML-aware JSON Schema tool sees it: plain JSON, YAML dates as text."""
    if isinstance(data, dict):
        return {str(k): as_json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [as_json(v) for v in data]
    if isinstance(data, datetime.date):
        return data.isoformat()
    return data


def schema_errors(data: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(as_json(data))]


def etdecl_errors(data: Any) -> list[str]:
    tree = Tree(data=data, values={}, keys={}, origins={})
    return [p.render() for p in structural_problems(tree)[1]]


def _structural(path: Path) -> bool:
    """A fixture whose first problem is the shape of the recipe (not YAML, not extends, not a
    cross-check): etdecl's structural pass refuses its merged tree."""
    try:
        tree = load_tree(path)
    except RecipeError:
        return False
    return bool(structural_problems(tree)[1])


STRUCTURAL = sorted(p for p in MALFORMED.glob("*.yaml") if _structural(p))


def test_the_structural_fixtures_are_many() -> None:
    assert len(STRUCTURAL) >= 15, [p.name for p in STRUCTURAL]


@pytest.mark.parametrize("path", STRUCTURAL, ids=lambda p: p.name)
def test_jsonschema_rejects_every_structural_fixture(path: Path) -> None:
    errors = schema_errors(load_tree(path).data)
    assert errors, f"{path.name}: etdecl refuses it, the JSON Schema accepts it"
    assert not [e for e in errors if VAGUE in e], errors


# ── the classes of mistake the schema used to accept or explain badly ───────────────────────

BASE = as_json(load_tree(ROOT / "tests" / "assets" / "valid" / "base.yaml").data)
BAD_NAMES = ["bad name", "1st", "a.b", "my/run", "é", "x" * 65, ""]


def with_change(change) -> dict:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def test_the_base_recipe_is_valid_for_both() -> None:
    assert schema_errors(BASE) == [] and etdecl_errors(BASE) == []


@pytest.mark.parametrize("section", ["encoders", "heads"])
@pytest.mark.parametrize("name", BAD_NAMES)
def test_section_names_outside_the_pattern_are_rejected(section: str, name: str) -> None:
    def rename(data: dict) -> None:
        [(old, entry)] = data[section].items()
        data[section] = {name: entry}
        if section == "encoders":
            data["heads"]["cls"]["input"] = name

    data = with_change(rename)
    assert etdecl_errors(data)
    errors = schema_errors(data)
    assert errors and all(VAGUE not in e for e in errors), errors
    assert any(e.startswith(f"['{section}']") for e in errors), errors


@pytest.mark.parametrize(("section", "entry", "tag"), [
    ("encoders", "plm", "hff"), ("encoders", "plm", "classify"), ("encoders", "plm", 1),
    ("heads", "cls", "classfy"), ("heads", "cls", "hf"), ("heads", "cls", None),
])
def test_a_wrong_type_tag_names_the_registered_types(section: str, entry: str, tag) -> None:
    data = with_change(lambda d: d[section][entry].__setitem__("type", tag))
    assert etdecl_errors(data)
    errors = schema_errors(data)
    assert errors and all(VAGUE not in e for e in errors), errors
    assert any(e.startswith(f"['{section}', '{entry}', 'type']") and "is not one of" in e
               for e in errors), errors


@pytest.mark.parametrize("section", ["encoders", "heads"])
def test_a_missing_type_tag_is_named(section: str) -> None:
    entry = "plm" if section == "encoders" else "cls"
    data = with_change(lambda d: d[section][entry].pop("type"))
    assert etdecl_errors(data)
    errors = schema_errors(data)
    assert any("'type' is a required property" in e for e in errors), errors


@pytest.mark.parametrize("labels", [[], ["pos"], "pos", [1, 2]])
def test_a_bad_labels_list_is_reported_at_labels(labels) -> None:
    data = with_change(lambda d: d["heads"]["cls"].__setitem__("labels", labels))
    assert etdecl_errors(data)
    errors = schema_errors(data)
    assert errors and all(VAGUE not in e for e in errors), errors
    assert all(e.startswith("['heads', 'cls', 'labels'") for e in errors), errors


@pytest.mark.parametrize(("section", "entry", "key"), [
    ("encoders", "plm", "poolng"), ("heads", "cls", "dropuot")])
def test_an_unknown_key_in_an_entry_is_named(section: str, entry: str, key: str) -> None:
    data = with_change(lambda d: d[section][entry].__setitem__(key, 1))
    errors = schema_errors(data)
    assert any(f"'{key}' was unexpected" in e for e in errors), errors


def test_entries_keep_their_properties_for_editor_completion() -> None:
    """Editors complete keys from the `then` branch and the tag from its `enum`."""
    from etdecl.recipe.registry import ENCODER_TYPES, HEAD_TYPES

    schema = VALIDATOR.schema
    for section, registry in (("encoders", ENCODER_TYPES), ("heads", HEAD_TYPES)):
        entry = schema["properties"][section]["additionalProperties"]
        assert sorted(entry["properties"]["type"]["enum"]) == sorted(registry.names())
        refs = {f"#/$defs/{registry.get(n).__name__}" for n in registry.names()}
        assert {b["then"]["$ref"] for b in entry["allOf"]} == refs
        assert "patternProperties" not in schema["properties"][section]


# ── what JSON Schema cannot say, and docs/ci.md therefore lists ──────────────────────────────


def _typed_paths(node: dict, kind: str, at: tuple = ()) -> list[tuple]:
    """Paths in BASE (filled out) whose schema type is `kind`, one level into each section."""
    found = []
    defs = VALIDATOR.schema["$defs"]
    for key, prop in node.get("properties", {}).items():
        ref = prop.get("$ref") or next((a.get("$ref") for a in prop.get("anyOf", [])
                                        if "$ref" in a), None)
        members = [prop, *prop.get("anyOf", [])]
        types = [m.get("type") for m in members]
        if any("const" in m or "enum" in m for m in members):
            continue  # a literal (`etdecl: 1`, `zero_stage`): 1.0 == 1 to pydantic too
        if kind in types:
            found.append((*at, key))
        elif ref and not at:
            found.extend(_typed_paths(defs[ref.split("/")[-1]], kind, (key,)))
    return found


INTEGER_PATHS = _typed_paths(VALIDATOR.schema, "integer")


def _set(data: dict, path: tuple, value: Any) -> dict:
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    return data


def test_integer_fields_are_found() -> None:
    assert {("train", "epochs"), ("train", "batch_size"), ("data", "max_length"),
            ("parallel", "tp")} <= set(INTEGER_PATHS), INTEGER_PATHS


@pytest.mark.parametrize("path", INTEGER_PATHS, ids=lambda p: ".".join(p))
def test_whole_number_floats_are_a_documented_gap(path: tuple) -> None:
    """JSON has one number type: 16.0 is an integer to any JSON Schema validator."""
    value = 16.0 if path[-1] == "max_length" else 2.0
    data = _set(copy.deepcopy(BASE), path, value)
    assert etdecl_errors(data), "etdecl must refuse a float where it wants an integer"
    assert schema_errors(data) == [], "the gap is closed: update docs/ci.md and this test"
    assert "`1.0`" in CI_DOC.read_text()


@pytest.mark.parametrize("path", [("name",), ("description",), ("train", "output_dir"),
                                  ("heads", "cls", "input")], ids=".".join)
def test_yaml_dates_for_strings_are_a_documented_gap(path: tuple) -> None:
    """An unquoted 2024-01-01 is a date to YAML; JSON tools see the text."""
    data = _set(copy.deepcopy(BASE), path, datetime.date(2024, 1, 1))
    assert etdecl_errors(data), "etdecl must refuse a date where it wants text"
    errors = [e for e in schema_errors(data) if "does not match" not in e]  # name's pattern
    assert errors == [], "the gap is closed: update docs/ci.md and this test"
    assert "dates" in CI_DOC.read_text()
