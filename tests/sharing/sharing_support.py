"""Helpers for the sharing tests: the CLI in subprocesses (several at once on two cores), and
the tiny-model recipe and synthetic data of tests/training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "training"))

import cli_server  # noqa: E402  (the suite's pre-imported etdecl; training_support puts it on the path)
from training_support import (  # noqa: E402  (re-exported for the sharing tests)
    TINY_RECIPE,
    synthetic_rows,
    write_jsonl,
)

__all__ = ["ROOT", "TINY_RECIPE", "cli", "run_cli", "run_in_one_process", "run_together",
           "synthetic_rows", "tiny_recipe", "write_jsonl"]

ETDECL = [sys.executable, "-m", "etdecl.cli"]


def cli_env(cache: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    if cache is not None:
        env["ETDECL_CACHE"] = str(cache)
    return env


def cli(*args: str, cwd: Path, cache: Path | None = None) -> subprocess.Popen:
    """Start `etdecl ARGS` in `cwd`; read it with .communicate()."""
    return subprocess.Popen([*ETDECL, *args], cwd=cwd, env=cli_env(cache), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run_cli(*args: str, cwd: Path, cache: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    return cli_server.run(list(args), cwd, cli_env(cache), timeout)  # forked, pre-imported


def run_together(runs: list[tuple[str, ...]], cwd: Path, cache: Path | None = None,
                 timeout: float = 300) -> list[subprocess.CompletedProcess]:
    """Several CLI runs at once (most of each is interpreter and torch start-up)."""
    procs = [(args, cli(*args, cwd=cwd, cache=cache)) for args in runs]
    done = []
    for args, proc in procs:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        done.append(subprocess.CompletedProcess([*ETDECL, *args], proc.returncode, stdout,
                                                stderr))
    return done


def run_in_one_process(runs: list[tuple[str, ...]], cwd: Path, cache: Path | None = None,
                       timeout: float = 900) -> list[subprocess.CompletedProcess]:
    """Several CLI runs one after another in one subprocess (`cli_in_one_process.py`): the
    training stack is imported once. For one-process runs; each still gets its own run."""
    results = cwd / "in-one-process.jsonl"
    script = Path(__file__).with_name("cli_in_one_process.py")
    proc = subprocess.run([sys.executable, str(script), str(results)], cwd=cwd,
                          env=cli_env(cache), text=True, capture_output=True, timeout=timeout,
                          input=json.dumps([list(a) for a in runs]))
    done = [json.loads(line) for line in results.read_text().splitlines()] \
        if results.is_file() else []
    if len(done) < len(runs):  # the interpreter itself failed: say so for every missing run
        done += [{"args": list(a), "returncode": proc.returncode or 1, "stdout": proc.stdout,
                  "stderr": proc.stderr} for a in runs[len(done):]]
    return [subprocess.CompletedProcess([*ETDECL, *d["args"]], d["returncode"], d["stdout"],
                                        d["stderr"]) for d in done]


def tiny_recipe(folder: Path, epochs: int = 1, dropout: float = 0.1, n_train: int = 320,
                n_dev: int = 64, name: str = "tiny.yaml") -> Path:
    """The tiny random-BERT recipe of tests/training with its synthetic data, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "train.jsonl", synthetic_rows(n_train, seed=1))
    write_jsonl(folder / "dev.jsonl", synthetic_rows(n_dev, seed=2))
    path = folder / name
    path.write_text(TINY_RECIPE.format(epochs=epochs, dropout=dropout, pooling="mean"))
    return path
