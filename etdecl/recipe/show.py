"""Render a resolved recipe as YAML, optionally with each value's origin as a trailing comment."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .load import PathKey
from .validate import LoadedRecipe, canonical_dict


def _build(node: Any, path: PathKey, loaded: LoadedRecipe, origins: bool) -> Any:
    if isinstance(node, dict):
        m = CommentedMap()
        for key, value in node.items():
            sub = (*path, key)
            m[key] = _build(value, sub, loaded, origins)
            if origins and (not isinstance(value, dict) or not value):
                m.yaml_add_eol_comment(loaded.origin_of(sub), key)
        return m
    if isinstance(node, list):
        s = CommentedSeq()
        for i, value in enumerate(node):
            s.append(_build(value, (*path, i), loaded, origins))
        if origins and node and not isinstance(node[0], (dict, list)):
            s.fa.set_flow_style()
        return s
    return node


def render_resolved(loaded: LoadedRecipe, origins: bool = False) -> str:
    data = canonical_dict(loaded.recipe)
    body = _build(data, (), loaded, origins)
    y = YAML()
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096
    buf = io.StringIO()
    buf.write(f"# fingerprint: {loaded.fingerprint}\n")
    y.dump(body, buf)
    return buf.getvalue()
