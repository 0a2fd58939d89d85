"""What other projects' CI uses: the pre-commit hooks, `--format github` and the workflow in
docs/ci.md, and the published JSON Schema with its `$id`."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from etdecl.cli import app
from etdecl.recipe.jsonschema import SCHEMA_PATH
from etdecl.recipe.schema import SCHEMA_ID

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / ".pre-commit-hooks.yaml"
CI_DOC = ROOT / "docs" / "ci.md"


def safe_load(text: str):
    return YAML(typ="safe", pure=True).load(io.StringIO(text))


def code_blocks(doc: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", doc.read_text(), re.DOTALL)


def hook(hook_id: str) -> dict:
    return next(h for h in safe_load(HOOKS.read_text()) if h["id"] == hook_id)


def selected(h: dict, paths: list[str]) -> list[str]:
    """The files pre-commit would hand the hook (its `files` and `exclude` patterns)."""
    files, exclude = re.compile(h["files"]), re.compile(h.get("exclude", "^$"))
    return [p for p in paths if files.search(p) and not exclude.search(p)]


def test_hooks_are_well_formed() -> None:
    hooks = safe_load(HOOKS.read_text())
    assert [h["id"] for h in hooks] == ["etdecl-validate", "etdecl-migrate-check"]
    for h in hooks:
        assert {"id", "name", "entry", "language", "files"} <= set(h)
        assert h["language"] == "python" and h["entry"].startswith("etdecl ")


def test_validate_hook_picks_recipes_and_skips_partials() -> None:
    h = hook("etdecl-validate")
    paths = ["recipes/quickstart.yaml", "recipes/_base.yaml", "recipes/sub/x.yml",
             "configs/a.yaml", ".github/workflows/ci.yml", "docker-compose.yaml",
             "recipes/notes.md"]
    assert selected(h, paths) == ["recipes/quickstart.yaml", "recipes/sub/x.yml",
                                  "configs/a.yaml"]


def test_hooks_pass_on_this_repository() -> None:
    tracked = subprocess.run(["git", "ls-files", "recipes"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    tracked += [str(p.relative_to(ROOT)) for p in (ROOT / "recipes").glob("*.yaml")]
    for hook_id in ("etdecl-validate", "etdecl-migrate-check"):
        h = hook(hook_id)
        files = sorted(set(selected(h, tracked)))
        assert files
        done = subprocess.run([sys.executable, "-m", "etdecl.cli", *h["entry"].split()[1:],
                               *files], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr


def test_hooks_fail_on_a_bad_recipe(tmp_path) -> None:
    bad = tmp_path / "recipes" / "old.yaml"
    bad.parent.mkdir()
    bad.write_text("name: old\ndata: {train: {path: a.jsonl, text: body}}\n")
    for hook_id, says in (("etdecl-validate", "etdecl migrate"),
                          ("etdecl-migrate-check", "needs migrating")):
        entry = hook(hook_id)["entry"].split()[1:]
        done = subprocess.run([sys.executable, "-m", "etdecl.cli", *entry, "recipes/old.yaml"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and says in done.stdout + done.stderr


def test_github_format_annotates_the_recipe_line(runner) -> None:
    result = runner.invoke(app, ["validate", "tests/assets/malformed/misspelt_key.yaml",
                                 "--format", "github"])
    assert result.exit_code == 1
    [line] = result.stdout.splitlines()
    assert line.startswith("::error file=tests/assets/malformed/misspelt_key.yaml,line=10,"
                           "col=5,title=etdecl encoders.plm.poolng::")
    assert "did you mean 'pooling'?" in line


def test_docs_workflow_runs_validate_with_github_annotations() -> None:
    workflows = [safe_load(b) for b in code_blocks(CI_DOC, "yaml")]
    [workflow] = [w for w in workflows if isinstance(w, dict) and "jobs" in w]
    runs = [s.get("run", "") for job in workflow["jobs"].values() for s in job["steps"]]
    assert "etdecl validate recipes/ --format github" in runs
    assert "etdecl migrate recipes/ --check" in runs
    assert any("actions/checkout" in s.get("uses", "") for s in
               workflow["jobs"]["validate"]["steps"])
    pre_commit = [w for w in workflows if isinstance(w, dict) and "repos" in w]
    assert {h["id"] for h in pre_commit[0]["repos"][0]["hooks"]} == {
        "etdecl-validate", "etdecl-migrate-check"}


def test_schema_is_published_with_an_id() -> None:
    schema = json.loads((ROOT / SCHEMA_PATH).read_text())
    assert schema["$id"] == SCHEMA_ID
    assert SCHEMA_ID.startswith("https://") and SCHEMA_ID.endswith("/" + SCHEMA_PATH.as_posix())
    assert SCHEMA_ID in CI_DOC.read_text()


def test_docs_editor_settings_point_at_the_schema() -> None:
    [settings] = [json.loads(b) for b in code_blocks(CI_DOC, "json")]
    [(path, globs)] = settings["yaml.schemas"].items()
    assert (ROOT / path).resolve() == (ROOT / SCHEMA_PATH).resolve()
    assert "recipes/*.yaml" in globs
    assert "# yaml-language-server: $schema=../schemas/recipe.schema.json" in CI_DOC.read_text()


@pytest.mark.parametrize("path", sorted((ROOT / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_gallery_schema_lines_find_the_schema(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    data = safe_load(path.read_text())
    m = re.match(r"# yaml-language-server: \$schema=(\S+)$", first)
    if "extends" not in data and not path.name.startswith("_"):
        assert m, "a whole recipe starts with the $schema line"
    if m:
        assert (path.parent / m.group(1)).resolve() == (ROOT / SCHEMA_PATH).resolve()
