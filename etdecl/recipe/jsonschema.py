"""The published JSON Schema for recipes, generated from the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .schema import SCHEMA_ID, Recipe

SCHEMA_PATH = Path("schemas") / "recipe.schema.json"


def recipe_json_schema() -> dict[str, Any]:
    body = Recipe.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **body}


def render_schema() -> str:
    return json.dumps(recipe_json_schema(), indent=2, sort_keys=False) + "\n"
