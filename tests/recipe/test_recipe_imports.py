"""Checking a recipe must stay cheap: `etdecl validate` never imports the training stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "colossalai")

PROBE = """
import json, sys
from etdecl.cli import app
try:
    app(sys.argv[1:], prog_name="etdecl")
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print(json.dumps({{"exit": code, "heavy": heavy}}))
"""


def run_probe(*args: str) -> dict:
    """Run the CLI in a fresh interpreter and report which heavy modules it imported."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=set(HEAVY)), *args],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("args", "exit_code"), [
    (("validate", "recipes/"), 0),
    (("validate", "tests/assets/malformed", "--format", "json"), 1),
    (("validate", "tests/assets/valid/base.yaml", "--set", "train.lr=3e-5"), 0),
    (("show", "tests/assets/extends/child.yaml", "--origin"), 0),
    (("schema", "--check"), 0),
    (("recipes", "list"), 0),
    (("recipes", "show", "quickstart"), 0),
    (("diff", "recipes/quickstart.yaml", "recipes/quickstart-smoke.yaml", "--format", "json"), 1),
    (("migrate", "--check", "recipes/"), 0),
], ids=["gallery", "malformed", "override", "show", "schema", "recipes-list", "recipes-show",
        "diff", "migrate-check"])
def test_cli_does_not_import_the_training_stack(args: tuple[str, ...], exit_code: int) -> None:
    assert run_probe(*args) == {"exit": exit_code, "heavy": []}


def test_writing_verbs_do_not_import_the_training_stack(tmp_path: Path) -> None:
    """`recipes init` (both ways) and `migrate` writing a file stay torch-free too."""
    old = tmp_path / "old.yaml"
    old.write_text("name: old\ndata: {train: {path: a.jsonl, text: body}}\n")
    for args in (("recipes", "init", "quickstart-smoke", str(tmp_path / "a.yaml")),
                 ("recipes", "init", "quickstart-smoke", str(tmp_path / "b.yaml"), "--resolve"),
                 ("migrate", str(old))):
        assert run_probe(*args) == {"exit": 0, "heavy": []}, args
    assert "etdecl: 1" in old.read_text()


def test_importtime_of_console_validate() -> None:
    """The same through `-X importtime`, which lists every module the process imported."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "etdecl.cli", "validate",
                           "recipes/"], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "etdecl.recipe.validate" in imported  # the probe sees the package
    assert not {m for m in imported if m.split(".")[0] in HEAVY}
