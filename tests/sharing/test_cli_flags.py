"""The CLI's own options: shell completion is on, and flags (which take no value) show no
`<bool>` placeholder in any command's `--help`."""

from __future__ import annotations

import pytest
import typer
from typer.core import TyperOption

from etdecl.cli import app

WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}


def _commands(group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    found = [(path, group)]
    for name, sub in getattr(group, "commands", {}).items():
        found.extend(_commands(sub, (*path, name)))
    return found


COMMANDS = _commands(typer.main.get_command(app))
IDS = [" ".join(p) or "etdecl" for p, _ in COMMANDS]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_shows_flags_without_a_value_placeholder(runner, path, command) -> None:
    result = runner.invoke(app, [*path, "--help"], env=WIDE, prog_name="etdecl")
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    options = [p for p in command.params if isinstance(p, TyperOption)]
    for option in options:  # every option is still listed, typed unless it is a flag
        assert option.opts[0] in result.output, option.opts
    for option in options:
        if not option.is_flag and option.metavar is None:
            assert option.display_type(None) in result.output, option.opts


def test_completion_options_are_offered(runner) -> None:
    result = runner.invoke(app, ["--help"], env=WIDE, prog_name="etdecl")
    assert "--install-completion" in result.output and "--show-completion" in result.output
    script = runner.invoke(app, ["--show-completion", "bash"], prog_name="etdecl")
    assert script.exit_code == 0 and "_etdecl_completion" in script.output


@pytest.mark.parametrize(("words", "expected"), [
    ("etdecl va", "validate"),
    ("etdecl recipes ", "list"),
    ("etdecl train r.yaml --res", "--resume"),
    ("etdecl validate r.yaml --format ", "github"),
])
def test_shell_completion_completes_commands_and_options(runner, words, expected) -> None:
    env = {"_ETDECL_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split(" ")) - 1)}
    result = runner.invoke(app, [], env=env, prog_name="etdecl")
    assert expected in result.output.split(), result.output
