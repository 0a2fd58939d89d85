"""Entry point of each process started by torchrun: `python -m etdecl.engine.worker SPEC`."""

from __future__ import annotations

import json
import sys

from .launch import LaunchSpec, run_worker


def main(argv: list[str]) -> int:
    with open(argv[0], encoding="utf-8") as fh:
        spec = LaunchSpec(**json.load(fh))
    return run_worker(spec, single=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
