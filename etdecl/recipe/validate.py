"""From a recipe file to a checked `Recipe`, every problem found in one run.

The stages: load and merge (`extends:`), apply `--set`, the structural pass (`structural.py`),
then the cross-field and data checks (`check.py`). A stage's errors do not stop the next: the
checks run on the valid parts of a recipe (`salvage.py`), and all problems come back together,
ordered by file, line and column, `--set` problems last in command-line order.
"""

from __future__ import annotations

from pathlib import Path

from .annotations import annotation_at, type_names, wants_text
from .characters import override_character_problems
from .errors import Location, Problem, RecipeError
from .load import Tree
from .loaded import LoadedRecipe, canonical_dict, fingerprint
from .resolve import apply_overrides, load_tree
from .salvage import salvage
from .structural import check_structure

__all__ = ["LoadedRecipe", "annotation_at", "canonical_dict", "fingerprint", "load_recipe",
           "type_names", "wants_text"]


def _old_format(tree: Tree, problems: list[Problem]) -> tuple[list[Problem], bool]:
    """A version-0 recipe gets one 'run etdecl migrate' problem instead of the errors its old
    layout causes (missing 'etdecl', unknown 'text'/'label' keys in data sources)."""
    from .migrate import FIELD_KEYS, SPLITS, old_format_problem

    file = tree.values[()].file if () in tree.values else ""
    old = old_format_problem(tree.data, tree.key_where, file)
    if old is None:
        return problems, False
    explained = {f"data.{s}.{k}" for s in SPLITS for k in FIELD_KEYS}

    def caused_by_old_format(p: Problem) -> bool:
        return ((p.path == "(top level)" and p.message == "missing required key 'etdecl'")
                or (p.path == "etdecl" and p.message == "unsupported recipe format version")
                or (p.path in explained and p.message.startswith("unknown key")))

    return [old] + [p for p in problems if not caused_by_old_format(p)], True


def _ordered(problems: list[Problem], overrides: list[str]) -> list[Problem]:
    """By file, line and column; `--set` problems after the files', in command-line order."""
    order = {f"--set {spec}": i for i, spec in enumerate(overrides)}

    def key(p: Problem) -> tuple:
        loc = p.loc or Location("")
        if loc.is_override:
            return (1, order.get(loc.file, len(order)), "", 0, 0, p.path)
        return (0, 0, loc.file, loc.line, loc.col, p.path)

    return sorted(problems, key=key)


def load_recipe(path: str | Path, overrides: list[str] | None = None,
                check_data: bool = True) -> LoadedRecipe:
    """Load, merge, override and check a recipe; raise RecipeError listing every problem.

    A stage's errors do not stop the later stages: a bad `--set` leaves the others applied,
    and a structural error leaves the checks to run on every part that is valid.
    """
    from .check import cross_checks

    path = Path(path)
    overrides = list(overrides or [])
    tree = load_tree(path)
    problems: list[Problem] = []
    if overrides:
        tree = apply_overrides(tree, overrides, collect=problems)
    recipe, structural, errors = check_structure(tree)
    problems += structural
    characters = override_character_problems(tree)  # a saved `show` must read back the same
    problems += characters
    if recipe is None or characters:
        problems, old = _old_format(tree, problems)
        if not old:  # an old layout's checks would report what `etdecl migrate` fixes
            partial = LoadedRecipe(salvage(tree.data, errors), tree, path, "", overrides=overrides)
            problems += cross_checks(partial, check_data=check_data)
        raise RecipeError(_ordered(problems, overrides))
    loaded = LoadedRecipe(recipe, tree, path, fingerprint(recipe), overrides=overrides)
    problems += cross_checks(loaded, check_data=check_data)
    if any(p.severity == "error" for p in problems):
        raise RecipeError(_ordered(problems, overrides))
    loaded.warnings = _ordered(problems, overrides)
    return loaded
