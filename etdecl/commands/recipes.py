"""`etdecl recipes list|show|init`: the gallery of recipes shipped with etdecl.

Examples: `etdecl recipes list`, `etdecl recipes show quickstart`,
`etdecl recipes init quickstart my-recipes/ --resolve`
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from . import _console
from ._console import say

app = typer.Typer(
    name="recipes",
    help="The recipe gallery shipped with etdecl (a recipe may say `extends: gallery:NAME`).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class ListFormat(StrEnum):
    table = "table"
    json = "json"


@app.command("list")
def list_recipes(
    fmt: Annotated[ListFormat, typer.Option("--format", "-f", help="Output format.")] = (
        ListFormat.table
    ),
) -> None:
    """List every gallery recipe with its one-line description."""
    from rich.table import Table
    from rich.text import Text

    from ..recipe.gallery import entries
    from ..recipe.load import show_path
    from ..recipe.resolve import gallery_dir

    found = entries()
    if fmt is ListFormat.json:
        rows = [{"name": e.name, "file": show_path(e.path), "description": e.description,
                 "extends": e.extends, "error": e.error} for e in found]
        say(json.dumps(rows, indent=2))
        return
    if not found:
        say(f"the gallery is empty ({gallery_dir()})", stderr=True)
        raise typer.Exit(1)
    table = Table(title=f"etdecl recipes ({len(found)})", title_justify="left")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("description")
    table.add_column("extends")
    for e in found:
        description = e.description if e.error is None else f"[invalid] {e.error}"
        table.add_row(Text(e.name), Text(description), Text(", ".join(e.extends)))
    _console.out.print(table)
    say("show one: etdecl recipes show NAME   copy one: etdecl recipes init NAME DEST   "
        "build on one: extends: gallery:NAME")


@app.command("show")
def show_recipe(name: Annotated[str, typer.Argument(help="Gallery recipe name.")]) -> None:
    """Print a gallery recipe as it is written (comments included)."""
    from ..recipe.gallery import find

    try:
        path = find(name)
    except LookupError as e:
        say(f"error: {e}", stderr=True)
        raise typer.Exit(1) from None
    say(path.read_text(encoding="utf-8"), end="")


@app.command("init")
def init_recipe(
    name: Annotated[str, typer.Argument(help="Gallery recipe name.")],
    dest: Annotated[Path, typer.Argument(help="File to write, or a folder to put NAME.yaml in.")],
    resolve: Annotated[
        bool,
        typer.Option("--resolve", help="Merge the extends: chain into one self-contained file."),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite DEST.")] = False,
) -> None:
    """Copy a gallery recipe to start your own.

    By default the copy keeps its `extends:` (rewritten so it still resolves from DEST:
    a gallery neighbour becomes `gallery:NAME`); `--resolve` writes the merged recipe instead.
    Relative data and model paths are rebased so the copy reads the same files.
    """
    from ..recipe.errors import RecipeError
    from ..recipe.gallery import init
    from ..recipe.validate import load_recipe

    try:
        written = init(name, dest, resolve=resolve, force=force)
    except (LookupError, FileExistsError, RecipeError) as e:
        say(f"error: {e}" if not isinstance(e, RecipeError) else str(e), stderr=True)
        raise typer.Exit(1) from None
    try:
        loaded = load_recipe(written, check_data=False)
    except RecipeError as e:
        say(str(e), stderr=True)
        say(f"wrote {written}, but it does not validate (see above)", stderr=True)
        raise typer.Exit(1) from None
    how = "resolved" if resolve else "extends kept"
    say(f"wrote {written} ({how}; fingerprint {loaded.fingerprint[:16]})")
    say(f"next: etdecl validate {written}  then  etdecl train {written}")
