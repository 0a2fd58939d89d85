"""Shared test setup for the whole suite.

Every test runs offline: nothing may reach the Hugging Face Hub, so a missing local file fails
fast instead of hanging on the network. Set here, at import, so subprocesses inherit it too.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths in messages are relative to the working directory; pin it to the repository."""
    monkeypatch.chdir(ROOT)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
