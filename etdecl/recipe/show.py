"""Render a resolved recipe as YAML, optionally with each value's origin as a trailing comment.

Strings are written so that any YAML reader gets them back as strings: ruamel quotes what
YAML 1.2 would read otherwise, and we also quote what a YAML 1.1 reader (PyYAML, many CI
tools) would turn into a boolean, number, null or date (`no`, `on`, `1:20`, `2024-01-01`).
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import SingleQuotedScalarString

from .load import PathKey
from .loaded import LoadedRecipe, canonical_dict

_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVERS = [VersionedResolver(version=v) for v in ((1, 1), (1, 2))]


def _ambiguous(text: str) -> bool:
    """True when a YAML 1.1 or 1.2 reader would read this plain scalar as something else."""
    return any(str(r.resolve(ScalarNode, text, (True, False))) != _STR_TAG for r in _RESOLVERS)


def _build(node: Any, path: PathKey, loaded: LoadedRecipe, origins: bool) -> Any:
    if isinstance(node, dict):
        m = CommentedMap()
        for key, value in node.items():
            sub = (*path, key)
            m[_scalar(key)] = _build(value, sub, loaded, origins)
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
    return _scalar(node)


def _scalar(node: Any) -> Any:
    if isinstance(node, str) and _ambiguous(node):
        return SingleQuotedScalarString(node)
    return node


class _Representer(RoundTripRepresenter):
    """Floats as YAML 1.1 readers (PyYAML) read them too: `1e-05` is a string there, so an
    exponent always follows a dot (`1.0e-05`)."""

    def represent_float(self, data: float) -> Any:
        text = repr(data)
        mantissa, e, exponent = text.partition("e")
        if not e or "." in mantissa or not mantissa.lstrip("-").isdigit():
            return super().represent_float(data)
        return self.represent_scalar("tag:yaml.org,2002:float", f"{mantissa}.0e{exponent}")


_Representer.add_representer(float, _Representer.represent_float)


def render_resolved(loaded: LoadedRecipe, origins: bool = False) -> str:
    data = canonical_dict(loaded.recipe)
    body = _build(data, (), loaded, origins)
    y = YAML()
    y.Representer = _Representer
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096
    buf = io.StringIO()
    buf.write(f"# fingerprint: {loaded.fingerprint}\n")
    y.dump(body, buf)
    return buf.getvalue()
