"""The published JSON Schema for recipes, generated from the pydantic models.

Pydantic's output is reshaped where a plain JSON Schema validator (check-jsonschema, an editor)
would otherwise accept what `etdecl validate` refuses, or explain it badly:

- named sections (`encoders`, `heads`) check their names with `propertyNames`, and every entry
  with `additionalProperties`, so a name outside the pattern is an error, not an unchecked key;
- alternatives of different JSON types (`input: NAME` or a list of names) become one node
  with a `type` list, so each alternative's own rule is what a validator reports;
- a discriminated union (`type: hf`) becomes an `enum` of the tags plus one `if`/`then` per
  tag, so a wrong `type:` says which tags exist and a bad field inside an entry is reported
  for that field, instead of "not valid under any of the given schemas".

What JSON Schema cannot express (JSON has no 1 vs 1.0, and no dates) is listed in docs/ci.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .schema import SCHEMA_ID, Recipe

SCHEMA_PATH = Path("schemas") / "recipe.schema.json"
PACKAGED_SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "recipe.schema.json"
"""Where the schema is inside an installed etdecl (a symlink to schemas/ in a checkout)."""


def _tagged_union(node: dict[str, Any]) -> dict[str, Any]:
    """`oneOf` + `discriminator` → the tag as an `enum`, then one `if`/`then` per tag."""
    mapping: dict[str, str] = node["discriminator"]["mapping"]
    tag = node["discriminator"]["propertyName"]
    branches = [{"if": {"properties": {tag: {"const": name}}, "required": [tag]},
                 "then": {"$ref": ref}} for name, ref in mapping.items()]
    return {"type": "object", "required": [tag],
            "properties": {tag: {"enum": list(mapping),
                                 "description": "Registered type: " + ", ".join(mapping)}},
            "allOf": branches}


def _closed_names(node: dict[str, Any]) -> dict[str, Any]:
    """`patternProperties` → `propertyNames` (pattern + length) and `additionalProperties`."""
    [(pattern, value)] = node.pop("patternProperties").items()
    names = dict(node.get("propertyNames") or {})
    node["propertyNames"] = {"pattern": pattern, **names}
    node["additionalProperties"] = value
    return node


def _typed_alternatives(node: dict[str, Any]) -> dict[str, Any]:
    """`anyOf` of branches of distinct JSON types (a name or a list of names) → one node with a
    `type` list, since each keyword applies to its own type (`pattern` to strings, `items` to
    arrays); validators then say what is wrong instead of "not valid under any schema"."""
    branches = node["anyOf"]
    if not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in branches):
        return node
    types = [b["type"] for b in branches]
    keys = [set(b) - {"type"} for b in branches]
    if len(set(types)) != len(types) or "integer" in types and "number" in types:
        return node
    if any(keys[i] & keys[j] for i in range(len(keys)) for j in range(i + 1, len(keys))):
        return node
    merged = {k: v for k, v in node.items() if k != "anyOf"}
    for b in branches:
        merged.update({k: v for k, v in b.items() if k != "type"})
    merged["type"] = types
    return merged


def _reshape(node: Any) -> Any:
    if isinstance(node, list):
        return [_reshape(x) for x in node]
    if not isinstance(node, dict):
        return node
    node = {k: _reshape(v) for k, v in node.items()}
    if "discriminator" in node and "oneOf" in node:
        rest = {k: v for k, v in node.items() if k not in ("discriminator", "oneOf")}
        node = {**rest, **_tagged_union(node)}
    if isinstance(node.get("anyOf"), list):
        node = _typed_alternatives(node)
    if len(node.get("patternProperties") or {}) == 1 and "additionalProperties" not in node:
        node = _closed_names(node)
    return node


def recipe_json_schema() -> dict[str, Any]:
    body = _reshape(Recipe.model_json_schema(mode="validation"))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **body}


def render_schema() -> str:
    return json.dumps(recipe_json_schema(), indent=2, sort_keys=False) + "\n"


def installed_schema() -> Path | None:
    """The schema file shipped with this etdecl (wheel or checkout), if it is there."""
    return PACKAGED_SCHEMA if PACKAGED_SCHEMA.is_file() else None
