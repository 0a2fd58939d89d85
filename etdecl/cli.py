"""The `etdecl` command: one thin function per verb. Heavy imports happen inside the verbs that
need them, so `validate`, `schema`, `show` and `--help` never import torch."""

from __future__ import annotations

import gc

_GC_DEFAULT = gc.get_threshold()
gc.set_threshold(100_000, 50, 100)
"""Start-up and recipe checking make many small objects that live to the end (modules, models,
YAML nodes); at Python's default threshold the cycle collector ran about a hundred times over
them during `etdecl validate` of 50 recipes (about 4 % of its time; 17 times at this one).
`train` puts the default back before training starts."""

import sys  # noqa: E402  (the imports below are made under the raised threshold)
from enum import StrEnum  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated  # noqa: E402

import typer  # noqa: E402

from .commands import _console  # noqa: E402
from .commands._console import say  # noqa: E402
from .commands._flags import hide_flag_types  # noqa: E402
from .recipe.errors import RecipeError  # noqa: E402

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
    say(str(error), stderr=True)
    return typer.Exit(code)


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Recipe files or directories.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    overrides: SetOpt = None,
    no_data: Annotated[bool, typer.Option(
        "--no-data", help="Check only the recipes: no data files, and no packages that ship "
        "model aliases or data (for CI installs without them).")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="List the files a folder walk passed over, and why.")] = False,
) -> None:
    """Check recipes without importing torch. Exit 0 when all are valid, 1 otherwise.

    Folders are walked for recipes (an `etdecl:` or `extends:` key, or the recipe `$schema`
    line); other YAML, such as workflows and compose files, is passed over.

    Examples: `etdecl validate recipes/`, `etdecl validate . --verbose`,
    `etdecl validate r.yaml --format github`
    """
    from .recipe.aliases import forget_found_packages
    from .recipe.discover import discover
    from .recipe.errors import Problem, render_github, render_json
    from .recipe.packages import once_per_package
    from .recipe.validate import load_recipe

    forget_found_packages()
    found = discover(paths)
    if fmt is Format.text and verbose:
        for path, why in found.skipped:
            say(f"skipped {path}: {why}")
    files = found.files + list(found.broken)
    if not files:
        raise _fail(ValueError("no recipe files found in " + ", ".join(map(str, paths))
                               + ("" if verbose else " (--verbose lists the files passed over)")))
    results: dict[str, list[Problem]] = {str(f): [p] for f, p in found.broken.items()}
    prints: dict[str, str] = {}
    for f in found.files:
        try:
            loaded = load_recipe(f, overrides or [], check_data=not no_data)
            results[str(f)] = loaded.warnings
            prints[str(f)] = loaded.fingerprint
        except RecipeError as e:
            results[str(f)] = e.problems
    results = once_per_package(results, silence=no_data)
    failed = [f for f, ps in results.items() if any(p.severity == "error" for p in ps)]
    if fmt is Format.json:
        say(render_json(results, prints))
    elif fmt is Format.github:
        text = render_github([p for ps in results.values() for p in ps])
        if text:
            say(text)
    else:
        for f, ps in results.items():
            for p in ps:  # warnings and errors together on stderr, in source order
                say(p.render(), stderr=True)
            if f in prints:
                say(f"ok {f} fingerprint {prints[f][:16]}")
        summary = f"{len(files) - len(failed)} of {len(files)} recipe(s) valid"
        others = sum(why.startswith("not a recipe") for _, why in found.skipped)
        if others and not verbose:
            summary += f"; {others} other YAML file(s) passed over (--verbose lists them)"
        say(summary, stderr=bool(failed))
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
        say(f"{output} is up to date")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    say(f"wrote {output}")


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
    say(render_resolved(loaded, origins=origin), end="")


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
    from .datafiles.readers import DataError
    from .plan import print_plan

    try:
        print_plan(loaded, world_size=nproc, console=_console.out)
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
        say(w.render(), stderr=True)
    gc.set_threshold(*_GC_DEFAULT)
    from .engine.launch import launch

    if loaded.recipe.stages:  # each stage its own launch, under <run>/stages/<k>-<name>/
        from .engine.stages import run_stages

        launch = run_stages  # type: ignore[assignment]
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
from .commands import export as _export  # noqa: E402  (imports torch only when called)
from .commands import migrate as _migrate  # noqa: E402
from .commands import recipes as _recipes  # noqa: E402
from .commands import report as _report  # noqa: E402  (matplotlib only when called)
from .commands import serve as _serve  # noqa: E402  (imports fastapi and torch when called)
from .commands import use_run as _use_run  # noqa: E402  (imports torch only when called)

app.add_typer(_recipes.app, name="recipes")
app.command("evaluate")(_use_run.evaluate)
app.command("report")(_report.report)
app.command("predict")(_use_run.predict)
app.command("export")(_export.export)
app.command("serve")(_serve.serve)
app.command("diff")(_diff.diff)
app.command("migrate")(_migrate.migrate)


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="etdecl")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
