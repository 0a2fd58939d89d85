"""Several `etdecl` CLI runs in one interpreter, one after another, for tests that start many
small trainings: torch, transformers and ColossalAI are imported once, not once per run (a
training subprocess spends most of its time importing them).

    python cli_in_one_process.py RESULTS.jsonl < runs.json

`runs.json` is a list of argument lists; each run's exit code and output are written to
RESULTS.jsonl as one JSON line, in order.
"""

from __future__ import annotations

import json
import sys
import traceback

from typer.testing import CliRunner


def main() -> int:
    runs = json.load(sys.stdin)
    from etdecl.cli import app

    runner = CliRunner()
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        for args in runs:
            result = runner.invoke(app, list(args))
            stderr = ""
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                stderr = "".join(traceback.format_exception(result.exception))
            out.write(json.dumps({"args": args, "returncode": result.exit_code,
                                  "stdout": result.output, "stderr": stderr}) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
