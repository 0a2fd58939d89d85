"""How fast `etdecl validate` checks every recipe, and proof that it never imports torch.

    python bench/validate_speed.py [--repeat 5]

Runs `etdecl validate recipes/` in fresh interpreters (wall time, as a user sees it), and once
in-process after recording which modules were imported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "colossalai", "numpy")

PROBE = f"""
import json, sys
from typer.testing import CliRunner
from etdecl.cli import app
r = CliRunner().invoke(app, ["validate", "recipes"])
print(json.dumps({{"exit": r.exit_code,
                  "heavy": sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    recipes = sorted(p for p in (ROOT / "recipes").rglob("*.yaml") if not p.name.startswith("_"))
    exe = [sys.executable, "-m", "etdecl.cli", "validate", "recipes"]
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        proc = subprocess.run(exe, cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            sys.exit(f"validate failed:\n{proc.stdout}\n{proc.stderr}")
    probe = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                           text=True, check=True)
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    print(f"{len(recipes)} recipes; `etdecl validate recipes` wall time over {args.repeat} runs: "
          f"median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}),"
          f" {statistics.median(times) / len(recipes) * 1000:.0f} ms per recipe incl. start-up")
    print(f"heavy modules imported by validate: {result['heavy'] or 'none'} "
          f"(exit {result['exit']})")
    if result["heavy"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
