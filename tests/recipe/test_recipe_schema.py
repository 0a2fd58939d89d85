"""The published JSON Schema matches the pydantic models, and every shipped recipe is valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etdecl.cli import app
from etdecl.recipe.jsonschema import SCHEMA_PATH, recipe_json_schema, render_schema
from etdecl.recipe.resolve import load_tree
from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / SCHEMA_PATH
GALLERY = sorted(p for p in (ROOT / "recipes").rglob("*")
                 if p.suffix in (".yaml", ".yml") and not p.name.startswith("_"))
GALLERY_IDS = [str(p.relative_to(ROOT / "recipes")) for p in GALLERY]


def test_schema_file_is_up_to_date() -> None:
    assert SCHEMA_FILE.is_file(), "run `etdecl schema` to write schemas/recipe.schema.json"
    assert SCHEMA_FILE.read_text() == render_schema(), "stale schema: run `etdecl schema`"


def test_schema_check_command(runner) -> None:
    result = runner.invoke(app, ["schema", "--check"])
    assert result.exit_code == 0, result.output


def test_schema_check_command_detects_drift(runner, tmp_path: Path) -> None:
    stale = tmp_path / "recipe.schema.json"
    stale.write_text(render_schema().replace('"etdecl"', '"etdecl_old"', 1))
    result = runner.invoke(app, ["schema", "--check", "--output", str(stale)])
    assert result.exit_code == 1
    assert "out of date" in result.stderr


def test_schema_is_closed_and_versioned() -> None:
    schema = recipe_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False  # misspelt keys fail in editors too
    assert schema["properties"]["etdecl"]["const"] == 1
    assert set(schema["required"]) >= {"etdecl", "name", "data", "encoders", "heads"}
    json.dumps(schema)  # serialisable as is


def test_gallery_is_not_empty() -> None:
    assert GALLERY, "recipes/ holds no recipes"


@pytest.mark.parametrize("path", GALLERY, ids=GALLERY_IDS)
def test_gallery_recipe_validates(path: Path) -> None:
    """Each gallery recipe is named after its file (`gallery:NAME`, `recipes show NAME`) and
    validates with no warning but a data file kept out of the repository, or a source stage's
    run (`train.init_from`) or a teacher's run not trained yet."""
    loaded = load_recipe(path)
    assert loaded.recipe.name == path.stem
    unexpected = [w.render() for w in loaded.warnings
                  if not w.message.startswith(("data file not found", "init_from not found",
                                               "teacher source not found"))]
    assert not unexpected


@pytest.mark.parametrize("path", GALLERY, ids=GALLERY_IDS)
def test_gallery_recipe_matches_json_schema(path: Path) -> None:
    """Editors validate with the JSON Schema; it must accept what pydantic accepts."""
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    data = load_tree(path).data  # extends merged: the schema describes a whole recipe
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
