"""Output never rewrites user values: no emoji codes or markup read into them, `show` output
reads back the same (also for YAML 1.1 readers), one stream per file's problems, and problems
inherited from the gallery located as `gallery:NAME:LINE:COL`."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import yaml  # PyYAML: a YAML 1.1 reader, as many tools downstream of `show` are

from etdecl.cli import app
from etdecl.consoles import PIPED_WIDTH, make_console
from etdecl.recipe import resolve
from etdecl.recipe.validate import canonical_dict, load_recipe

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p for p in (ROOT / "recipes").glob("*.yaml") if not p.name.startswith("_"))
DATA = ROOT / "tests/assets/data/train.jsonl"
ODD = [":fire: 42", ":warning:", "[bold]x[/bold]", "[red]", "no", "yes", "on", "off", "y",
       "null", "~", "true", "2024-01-01", "2001-12-14t21:59:43.10-05:00", "1:20", "1_000",
       "0o17", ".inf", "tab\there"]
EMOJI = ("\N{FIRE}", "\N{WARNING SIGN}")


def _recipe(tmp_path: Path, **extra: str) -> Path:
    shutil.copy(DATA, tmp_path / ":warning:.jsonl")
    text = (f"etdecl: 1\nname: odd\ndescription: {json.dumps(':fire: [bold]no[/bold]')}\n"
            f"data:\n  train: {{path: ':warning:.jsonl'}}\n"
            f"encoders:\n  plm: {{type: hf, model: minilm-l6}}\n"
            f"heads:\n  cls: {{type: classify, input: plm, labels: ['neg', 'pos']}}\n"
            f"train: {{epochs: 1, batch_size: 8, lr: 1.0e-4, seed: {extra.get('seed', '1')}}}\n")
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# ── emoji codes and markup in user values ────────────────────────────────────────────────────

@pytest.mark.parametrize("fmt", ["text", "json", "github"])
@pytest.mark.parametrize("value", [":fire: 42", "[bold]7[/bold]", ":warning: [red]1"])
def test_validate_prints_user_values_as_written(runner, tmp_path, fmt, value) -> None:
    recipe = _recipe(tmp_path, seed=json.dumps(value))
    result = runner.invoke(app, ["validate", str(recipe), "--format", fmt])
    assert result.exit_code == 1
    shown = result.stdout + result.stderr
    if fmt == "json":
        problems = json.loads(result.stdout)["files"][0]["problems"]
        shown = " ".join(p["found"] or "" for p in problems)
    assert repr(value) in shown, shown
    assert not any(e in shown for e in EMOJI)


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_a_path_with_emoji_codes_is_shown_as_written(runner, tmp_path, fmt) -> None:
    recipe = _recipe(tmp_path)
    (tmp_path / ":warning:.jsonl").unlink()  # a warning that names the path
    result = runner.invoke(app, ["validate", str(recipe), "--format", fmt])
    assert result.exit_code == 0, result.output
    assert ":warning:.jsonl" in result.stdout + result.stderr
    assert "\N{WARNING SIGN}" not in result.stdout + result.stderr


def test_piped_consoles_use_a_wide_width_and_never_read_markup(monkeypatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert make_console(file=io.StringIO()).width == PIPED_WIDTH
    buf = io.StringIO()
    make_console(file=buf).print(":fire: [bold]x[/bold]")
    assert buf.getvalue() == ":fire: [bold]x[/bold]\n"


# ── show: what it prints reads back the same ─────────────────────────────────────────────────

def _odd_recipe(tmp_path: Path, value: str) -> Path:
    recipe = _recipe(tmp_path)
    text = recipe.read_text().replace("labels: ['neg', 'pos']",
                                      f"labels: [{json.dumps(value)}, 'other']")
    recipe.write_text(text, encoding="utf-8")
    return recipe


def _show_round_trip(runner, recipe: Path, tmp_path: Path) -> str:
    loaded = load_recipe(recipe, check_data=False)
    result = runner.invoke(app, ["show", str(recipe)])
    assert result.exit_code == 0, result.output
    shown = tmp_path / "shown.yaml"
    shown.write_text(result.stdout, encoding="utf-8")
    assert result.stdout.startswith(f"# fingerprint: {loaded.fingerprint}\n")
    assert load_recipe(shown, check_data=False).fingerprint == loaded.fingerprint
    assert yaml.safe_load(result.stdout) == canonical_dict(loaded.recipe)  # YAML 1.1 too
    return result.stdout


@pytest.mark.parametrize("recipe", SHIPPED, ids=lambda p: p.stem)
def test_show_of_every_gallery_recipe_reads_back_the_same(runner, tmp_path, recipe) -> None:
    _show_round_trip(runner, recipe, tmp_path)


@pytest.mark.parametrize("value", ODD, ids=repr)
def test_show_of_odd_strings_reads_back_the_same(runner, tmp_path, value) -> None:
    text = _show_round_trip(runner, _odd_recipe(tmp_path, value), tmp_path)
    assert ":fire: [bold]no[/bold]" in text and ":warning:.jsonl" in text


@pytest.mark.parametrize("value", ["no", "yes", "on", "off", "2024-01-01", "1:20"])
def test_show_quotes_what_yaml_1_1_would_not_read_as_a_string(runner, tmp_path, value) -> None:
    result = runner.invoke(app, ["show", str(_odd_recipe(tmp_path, value))])
    assert f"    labels:\n      - '{value}'\n      - other\n" in result.stdout


# ── one stream per file, in source order ─────────────────────────────────────────────────────

def _warn_and_fail(tmp_path: Path, error_first: bool) -> Path:
    shutil.copy(DATA, tmp_path / "train.jsonl")
    fields = "  fields: {text: nope}\n"  # an error: train.jsonl has no field 'nope'
    unused = "  spare: {type: hf, model: minilm-l6}\n"  # a warning: no head reads it
    data = "data:\n  train: {path: train.jsonl}\n" + fields
    encoders = "encoders:\n  plm: {type: hf, model: minilm-l6}\n" + unused
    body = (data + encoders) if error_first else (encoders + data)
    path = tmp_path / "r.yaml"
    path.write_text("etdecl: 1\nname: r\n" + body + "heads:\n  cls: {type: classify, input: plm,"
                    " labels: [neg, pos]}\ntrain: {epochs: 1, batch_size: 8, lr: 1.0e-4}\n")
    return path


@pytest.mark.parametrize("error_first", [True, False])
def test_warnings_and_errors_of_a_file_share_one_stream_in_order(runner, tmp_path,
                                                                 error_first) -> None:
    result = runner.invoke(app, ["validate", str(_warn_and_fail(tmp_path, error_first))])
    assert result.exit_code == 1
    lines = [ln for ln in result.stderr.splitlines() if ": error: " in ln or ": warning: " in ln]
    assert len(lines) == 2 and "error" not in result.stdout and "warning" not in result.stdout
    line_numbers = [int(ln.split(":")[1]) for ln in lines]
    assert line_numbers == sorted(line_numbers)
    assert (": error: " in lines[0]) == error_first


def test_warnings_of_a_valid_file_come_in_source_order(runner, tmp_path) -> None:
    recipe = _warn_and_fail(tmp_path, error_first=False)
    recipe.write_text(recipe.read_text().replace("fields: {text: nope}", "fields: {}")
                      .replace("train: {path: train.jsonl}", "train: {path: gone.jsonl}"))
    result = runner.invoke(app, ["validate", str(recipe)])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stderr.splitlines() if ": warning: " in ln]
    assert len(lines) == 2
    assert [int(ln.split(":")[1]) for ln in lines] == sorted(int(ln.split(":")[1])
                                                            for ln in lines)


# ── problems inherited from the gallery ──────────────────────────────────────────────────────

@pytest.fixture
def shelf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A gallery in a deep folder (as site-packages is): `broken` has a bad learning rate,
    `via` reaches it through a neighbour; data paths are relative to the gallery file."""
    shelf = tmp_path / "lib" / "site-packages" / "etdecl" / "gallery"
    (shelf / "data").mkdir(parents=True)
    shutil.copy(DATA, shelf / "data" / "train.jsonl")
    (shelf / "broken.yaml").write_text(
        "etdecl: 1\nname: broken\ndata:\n  train: {path: data/train.jsonl}\n"
        "encoders:\n  plm: {type: hf, model: minilm-l6}\n"
        "heads:\n  cls: {type: classify, input: plm, labels: [neg, pos]}\n"
        "train: {epochs: 1, batch_size: 8, lr: fast}\n")
    (shelf / "via.yaml").write_text("extends: broken.yaml\nname: via\n")
    monkeypatch.setattr(resolve, "gallery_dir", lambda: shelf)
    return shelf


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
@pytest.mark.parametrize("name", ["broken", "via"])
def test_inherited_problems_are_located_in_the_gallery_by_name(runner, tmp_path, shelf, fmt,
                                                              name) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"extends: gallery:{name}\nname: mine\n")
    result = runner.invoke(app, ["validate", str(mine), "--format", fmt])
    assert result.exit_code == 1
    shown = result.stdout + result.stderr
    assert str(shelf) not in shown and "site-packages" not in shown
    if fmt == "json":
        (problem,) = json.loads(result.stdout)["files"][0]["problems"]
        assert problem["loc"] == {"file": "gallery:broken", "line": 9, "col": 39}
    elif fmt == "github":
        assert "file=gallery%3Abroken,line=9,col=39" in shown
    else:
        assert "gallery:broken:9:39: error: train.lr" in shown


def test_relative_paths_in_a_gallery_recipe_still_resolve_next_to_it(runner, tmp_path,
                                                                    shelf) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("extends: gallery:via\nname: mine\n")
    result = runner.invoke(app, ["validate", str(mine), "--set", "train.lr=0.1"])
    assert result.exit_code == 0, result.output
    assert "not found" not in result.output
    result = runner.invoke(app, ["show", str(mine), "--origin", "--set", "train.lr=0.1"])
    assert "path: data/train.jsonl  # gallery:broken:4" in result.stdout
