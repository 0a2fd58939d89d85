"""`etdecl migrate R.yaml`: rewrite an older recipe in the current format, in place.

Comments, key order and quoting are kept (ruamel round trip). `--check` only reports and exits
1 when a file needs migrating, for CI.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated

import typer

from ._console import say


def _files(paths: list[Path]) -> list[Path]:
    """Files as given; folders walked for *.yaml / *.yml, partials (`_x.yaml`) included."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found.extend(sorted(x for x in p.rglob("*") if x.suffix in (".yaml", ".yml")))
        else:
            found.append(p)
    return found


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.migrate-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    with contextlib.suppress(OSError):
        os.chmod(tmp, path.stat().st_mode & 0o7777)
    os.replace(tmp, path)


def migrate(
    paths: Annotated[list[Path], typer.Argument(help="Recipe files or folders.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write here instead of in place ('-': stdout)."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Change nothing; exit 1 if any file needs migrating.")
    ] = False,
) -> None:
    """Upgrade recipes to the current format version, keeping comments and key order.

    Examples: `etdecl migrate old.yaml`, `etdecl migrate old.yaml -o new.yaml`,
    `etdecl migrate recipes/ --check`
    """
    from ..recipe.errors import RecipeError
    from ..recipe.load import read_source, show_path
    from ..recipe.migrate import CURRENT, migrate_text

    files = _files(paths)
    if not files:
        say("error: no recipe files found in " + ", ".join(map(str, paths)), stderr=True)
        raise typer.Exit(1)
    if output is not None and len(files) != 1:
        say("error: --output takes one recipe file", stderr=True)
        raise typer.Exit(1)
    failed = pending = 0
    for f in files:
        shown = show_path(f)
        try:
            result = migrate_text(read_source(f, shown), shown)
        except RecipeError as e:
            say(str(e), stderr=True)
            failed += 1
            continue
        if not result.needed:
            if output is not None and not check:
                _emit(output, result.text)
            say(f"{shown}: already format version {CURRENT}")
            continue
        pending += 1
        step = f"version {result.from_version} -> {result.to_version}"
        if check:
            say(f"{shown}: needs migrating ({step}); run: etdecl migrate {shown}")
            continue
        if output is None:
            _write_atomically(f, result.text)
            where = shown
        else:
            _emit(output, result.text)
            where = str(output)
        target = "stdout" if str(output) == "-" else where
        to_err = str(output) == "-"  # stdout then holds the migrated recipe itself
        say(f"{shown}: migrated {step}, written to {target}", stderr=to_err)
        for change in result.changes:
            say(f"  {change}", stderr=to_err)
    if failed:
        raise typer.Exit(1)
    if check and pending:
        raise typer.Exit(1)


def _emit(output: Path, text: str) -> None:
    if str(output) == "-":
        say(text, end="")
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
