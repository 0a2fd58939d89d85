"""`etdecl` CLI runs for the test suite, forked from one pre-imported interpreter.

Most of a small training's time in a fresh `python -m etdecl.cli` is importing torch,
transformers and ColossalAI (about 10 s of CPU each time on a 2-core machine, and the suite
runs well over a hundred such trainings). The first run starts a server that imports the
stack once and then forks one child per run: the child takes the run's working directory,
environment (thread count included) and arguments, writes its stdout and stderr to files and
reports its exit code, exactly what `subprocess.run` would have given the test. The server runs
no torch op before forking, so the children's thread pools start fresh.

`ETDECL_TEST_FORK=0` turns it off (every run a fresh subprocess); a run whose environment
changes PYTHONPATH (code the server has not imported) always gets a fresh subprocess.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ETDECL = [sys.executable, "-m", "etdecl.cli"]
_lock = threading.Lock()
_server: dict = {}


def enabled(env: dict[str, str]) -> bool:
    return (os.environ.get("ETDECL_TEST_FORK", "1") != "0"
            and env.get("PYTHONPATH") == os.environ.get("PYTHONPATH")
            and hasattr(os, "fork"))


def _start() -> str:
    """The server's socket path, starting it on first use."""
    with _lock:
        if _server.get("proc") is not None and _server["proc"].poll() is None:
            return _server["path"]
        folder = tempfile.mkdtemp(prefix="etdecl-cli-")
        path = os.path.join(folder, "cli.sock")
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        proc = subprocess.Popen([sys.executable, __file__, path], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = proc.stdout.readline() if proc.stdout else ""
        if line.strip() != "ready":
            proc.kill()
            raise RuntimeError("the test CLI server did not start")
        _server.update(proc=proc, path=path)
        atexit.register(proc.kill)
        return path


def run(args: list[str], cwd: Path | str, env: dict[str, str], timeout: float | None,
        text: bool = True) -> subprocess.CompletedProcess:
    """`subprocess.run([*ETDECL, *args], cwd, env, capture_output=True, timeout)`, forked."""
    if not enabled(env):
        return subprocess.run([*ETDECL, *args], cwd=cwd, env=env, capture_output=True,
                              text=text, timeout=timeout)
    path = _start()
    with tempfile.TemporaryDirectory(prefix="etdecl-run-") as tmp:
        out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        request = {"args": list(args), "cwd": str(cwd), "env": env, "stdout": out, "stderr": err}
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(path)
        conn.settimeout(timeout)
        reader = conn.makefile("r")
        try:
            conn.sendall((json.dumps(request) + "\n").encode())
            pid = int(reader.readline())
            try:
                line = reader.readline()
            except TimeoutError:
                os.killpg(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired([*ETDECL, *args], timeout) from None
        finally:
            reader.close()
            conn.close()
        code = int(line) if line.strip() else -9  # no report: the child was killed
        mode = "r" if text else "rb"
        kw = {"encoding": "utf-8", "errors": "replace"} if text else {}
        with open(out, mode, **kw) as f:
            stdout = f.read()
        with open(err, mode, **kw) as f:
            stderr = f.read()
    return subprocess.CompletedProcess([*ETDECL, *args], code, stdout, stderr)


# ── the server ───────────────────────────────────────────────────────────────────────────────


def _child(conn: socket.socket) -> None:
    """One run in a forked child: never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()  # its own process group: a timeout kills it and whatever it started
        reader = conn.makefile("r")
        req = json.loads(reader.readline())
        conn.sendall(f"{os.getpid()}\n".encode())
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        for fd, name in ((1, req["stdout"]), (2, req["stderr"])):
            handle = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(handle, fd)
            os.close(handle)
        import torch

        threads = req["env"].get("OMP_NUM_THREADS")
        if threads:
            torch.set_num_threads(int(threads))
        from etdecl.cli import app

        sys.argv = ["etdecl", *req["args"]]
        try:
            app(args=req["args"], prog_name="etdecl")
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None
                                                                    else 1)
    except BaseException:  # noqa: BLE001  (reported like an uncaught error in a process)
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
        with contextlib.suppress(OSError):
            conn.sendall(f"{code}\n".encode())
        os._exit(code)


def serve(path: str) -> None:
    # the training stack, imported once; no torch op runs here
    import colossalai.booster  # noqa: F401
    import transformers.models.bert.modeling_bert  # noqa: F401
    import transformers.models.mpnet.modeling_mpnet  # noqa: F401

    import etdecl.cli  # noqa: F401
    import etdecl.engine.trainer  # noqa: F401

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        if os.fork() == 0:
            server.close()
            _child(conn)
        conn.close()


if __name__ == "__main__":
    serve(sys.argv[1])
