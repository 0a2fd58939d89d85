"""The suite's forked CLI runs (tests/cli_server.py) give what a fresh subprocess gives: exit
code, stdout and stderr, in the run's working directory and environment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import cli_server
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    return dict(os.environ, HF_HUB_OFFLINE="1", COLUMNS="100", **extra)


@pytest.mark.parametrize("args", [["validate", "tests/assets/valid/base.yaml"],
                                  ["validate", "tests/assets/valid/base.yaml", "--set",
                                   "train.epochs=0"],
                                  ["no-such-verb"]])
def test_a_forked_run_matches_a_subprocess(args: list[str]) -> None:
    forked = cli_server.run(args, ROOT, _env(), timeout=120)
    fresh = subprocess.run([*cli_server.ETDECL, *args], cwd=ROOT, env=_env(),
                           capture_output=True, text=True, timeout=120)
    assert forked.returncode == fresh.returncode
    assert forked.stdout == fresh.stdout
    assert forked.stderr.strip().splitlines()[-1:] == fresh.stderr.strip().splitlines()[-1:]


def test_a_forked_run_takes_its_cwd_and_environment(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text((ROOT / "tests/assets/valid/base.yaml").read_text())
    done = cli_server.run(["validate", "r.yaml", "--set",
                           "data.train.path=${MY_DIR}/missing.jsonl"], tmp_path,
                          _env(MY_DIR="from-env"), timeout=120)
    assert done.returncode == 0  # a data file not there yet is a warning
    # resolved against the run's working directory, with the run's environment
    assert f"{tmp_path}/from-env/missing.jsonl" in done.stdout + done.stderr
