"""The `etdecl` command: one thin function per verb. Heavy imports happen inside the verbs that
need them, so `validate`, `schema`, `show` and `--help` never import torch."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from .commands._console import err, out
from .commands._flags import hide_flag_types
from .recipe.errors import RecipeError

hide_flag_types()

app = typer.Typer(
    name="etdecl",
    help="Declarative YAML model assembly for deep transfer learning in NLP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a value: --set train.lr=3e-5 (repeatable)."),
]


class Format(StrEnum):
    text = "text"
    json = "json"
    github = "github"


def _fail(error: RecipeError | Exception, code: int = 1) -> typer.Exit:
    err.print(str(error), markup=False)
    return typer.Exit(code)


def _recipe_files(paths: list[Path]) -> list[Path]:
    """Files as given; directories walked for *.yaml / *.yml, skipping `_partial.yaml` files."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(x for x in p.rglob("*") if x.suffix in (".yaml", ".yml"))
            files.extend(x for x in found if not x.name.startswith("_"))
        else:
            files.append(p)
    return files


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Recipe files or directories.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    overrides: SetOpt = None,
    no_data: Annotated[
        bool, typer.Option("--no-data", help="Skip data-file field checks.")
    ] = False,
) -> None:
    """Check recipes without importing torch. Exit 0 when all are valid, 1 otherwise.

    Examples: `etdecl validate recipes/`, `etdecl validate r.yaml --format github`
    """
    from .recipe.errors import Problem, render_github, render_json
    from .recipe.validate import load_recipe

    files = _recipe_files(paths)
    if not files:
        raise _fail(ValueError("no recipe files found in " + ", ".join(map(str, paths))))
    results: dict[str, list[Problem]] = {}
    prints: dict[str, str] = {}
    for f in files:
        try:
            loaded = load_recipe(f, overrides or [], check_data=not no_data)
            results[str(f)] = loaded.warnings
            prints[str(f)] = loaded.fingerprint
        except RecipeError as e:
            results[str(f)] = e.problems
    failed = [f for f, ps in results.items() if any(p.severity == "error" for p in ps)]
    if fmt is Format.json:
        out.print(render_json(results, prints), markup=False)
    elif fmt is Format.github:
        text = render_github([p for ps in results.values() for p in ps])
        if text:
            out.print(text, markup=False)
    else:
        for f, ps in results.items():
            for p in ps:
                (err if p.severity == "error" else out).print(p.render(), markup=False)
            if f in prints:
                out.print(f"ok {f} fingerprint {prints[f][:16]}", markup=False)
        summary = f"{len(files) - len(failed)} of {len(files)} recipe(s) valid"
        (err if failed else out).print(summary, markup=False)
    raise typer.Exit(1 if failed else 0)


@app.command()
def schema(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write it.")] = Path(
        "schemas/recipe.schema.json"
    ),
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if the file is stale.")] = False,
) -> None:
    """Write the recipe JSON Schema (generated from the pydantic models)."""
    from .recipe.jsonschema import render_schema

    text = render_schema()
    if check:
        current = output.read_text() if output.is_file() else ""
        if current != text:
            raise _fail(ValueError(f"{output} is out of date; run `etdecl schema`"))
        out.print(f"{output} is up to date")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    out.print(f"wrote {output}")


@app.command()
def show(
    recipe: Annotated[Path, typer.Argument(help="Recipe file.")],
    overrides: SetOpt = None,
    origin: Annotated[
        bool, typer.Option("--origin", help="Say which file set each value.")
    ] = False,
) -> None:
    """Print the resolved recipe (extends merged, overrides applied, defaults filled)."""
    from .recipe.show import render_resolved
    from .recipe.validate import load_recipe

    try:
        loaded = load_recipe(recipe, overrides or [], check_data=False)
    except RecipeError as e:
        raise _fail(e) from None
    out.print(render_resolved(loaded, origins=origin), markup=False, end="")


@app.command()
def plan(
    recipe: Annotated[Path, typer.Argument(help="Recipe file.")],
    overrides: SetOpt = None,
    nproc: Annotated[int, typer.Option(help="Processes the plan is laid out for.")] = 1,
) -> None:
    """Compile the recipe without training: module tree, parameters, tokenizer, steps."""
    from .recipe.validate import load_recipe

    try:
        loaded = load_recipe(recipe, overrides or [])
    except RecipeError as e:
        raise _fail(e) from None
    from .data.readers import DataError
    from .plan import print_plan

    try:
        print_plan(loaded, world_size=nproc, console=out)
    except (RecipeError, DataError) as e:
        raise _fail(e) from None


@app.command()
def train(
    recipe: Annotated[Path, typer.Argument(help="Recipe file.")],
    overrides: SetOpt = None,
    nproc: Annotated[int, typer.Option(help="Local processes (gloo on CPU).")] = 1,
    nnodes: Annotated[int, typer.Option(help="Machines taking part (torchrun semantics).")] = 1,
    node_rank: Annotated[int, typer.Option(help="This machine's rank, 0..nnodes-1.")] = 0,
    master_addr: Annotated[str, typer.Option(help="Address of the rank-0 machine.")] = "127.0.0.1",
    master_port: Annotated[int | None, typer.Option(help="Port on the rank-0 machine.")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the last checkpoint.")
    ] = False,
    run_dir: Annotated[
        Path | None, typer.Option(help="Run directory (default: <output_dir>/<name>).")
    ] = None,
    stop_after: Annotated[
        int | None,
        typer.Option(
            help="Stop after this many steps, as an interrupted run would (for testing resume)."
        ),
    ] = None,
) -> None:
    """Compile and train a recipe with a ColossalAI Booster, writing a run directory."""
    from .recipe.validate import load_recipe

    try:
        loaded = load_recipe(recipe, overrides or [])
    except RecipeError as e:
        raise _fail(e) from None
    for w in loaded.warnings:
        err.print(w.render(), markup=False)
    from .engine.launch import launch

    code = launch(
        loaded,
        nproc=nproc,
        resume=resume,
        run_dir=run_dir,
        stop_after=stop_after,
        nnodes=nnodes,
        node_rank=node_rank,
        master_addr=master_addr,
        master_port=master_port,
    )
    raise typer.Exit(code)


# Verbs that live in their own modules (etdecl/commands/), all torch-free.
from .commands import diff as _diff  # noqa: E402
from .commands import migrate as _migrate  # noqa: E402
from .commands import recipes as _recipes  # noqa: E402

app.add_typer(_recipes.app, name="recipes")
app.command("diff")(_diff.diff)
app.command("migrate")(_migrate.migrate)


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="etdecl")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
