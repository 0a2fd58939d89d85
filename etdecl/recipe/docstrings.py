"""Field descriptions from attribute docstrings, read with one parse per module.

A recipe field is documented by the string literal on the line under it; the JSON Schema and
editor hovers show it. pydantic's `use_attribute_docstrings` finds each class's source by
walking the interpreter's frames and re-tokenising the file, a third of the time it took to
import the recipe models. This parses each module's source once and gives the same descriptions
(same rule: a string statement directly after an annotated assignment of a name); `etdecl
schema --check` compares them.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from functools import cache


def _from_class(node: ast.ClassDef) -> dict[str, str]:
    docs: dict[str, str] = {}
    target: str | None = None
    previous: ast.stmt | None = None
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            target = stmt.target.id
        elif (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
              and isinstance(stmt.value.value, str) and isinstance(previous, ast.AnnAssign)):
            if target:
                docs[target] = inspect.cleandoc(stmt.value.value)
            target = None
        previous = stmt
    return docs


@cache
def _module_classes(module: str) -> dict[str, dict[str, str] | None]:
    """Top-level class name → its attribute docstrings (None: the name is defined twice)."""
    mod = sys.modules.get(module)
    path = getattr(mod, "__file__", None)
    if not path or not path.endswith(".py"):
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return {}
    out: dict[str, dict[str, str] | None] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = None if node.name in out else _from_class(node)
    return out


def attribute_docstrings(cls: type) -> dict[str, str]:
    """Attribute name → docstring of a class's own annotated attributes."""
    top = _module_classes(cls.__module__)
    if "." not in cls.__qualname__ and top.get(cls.__name__) is not None:
        return top[cls.__name__]  # type: ignore[return-value]
    try:  # a class inside a function, or defined twice in its module: its own source
        node = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return {}
    return _from_class(node) if isinstance(node, ast.ClassDef) else {}
