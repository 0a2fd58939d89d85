"""Fuzz `validate` at the nightly count and report how many recipes were checked, and how fast.

    python bench/fuzz_validate.py [--profile nightly|ci] [--seed N]

Runs the two Hypothesis tests of tests/sharing/test_fuzz_validate.py in this process under the
chosen profile (nightly: 10,000 recipe files + 2,000 override lists, a fresh seed each run
unless --seed is given) and prints the count per strategy and outcome, and the wall time. Exit
status 1 when the property fails; Hypothesis then prints the shrunk failing recipe.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="nightly", choices=["nightly", "ci"])
    ap.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random)")
    args = ap.parse_args()
    os.environ["ETDECL_FUZZ_PROFILE"] = args.profile
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT / "tests" / "sharing"))
    import fuzz_recipes
    import test_fuzz_validate as tests
    from hypothesis import seed

    results = []
    for name in ("test_any_recipe_file_gives_located_problems",
                 "test_any_override_gives_located_problems"):
        fn = getattr(tests, name)
        if args.seed is not None:
            fn = seed(args.seed)(fn)
        before = sum(fuzz_recipes.OUTCOMES.values())
        start = time.perf_counter()
        try:
            fn()
            ok = True
        except Exception as err:  # noqa: BLE001 - reported, then the exit status says it
            print(f"{name}: FAILED: {type(err).__name__}: {err}", file=sys.stderr)
            ok = False
        wall = time.perf_counter() - start
        count = sum(fuzz_recipes.OUTCOMES.values()) - before
        results.append((name, count, wall, ok))
        print(f"{name}: {count} examples in {wall:.1f} s ({1000 * wall / max(count, 1):.1f} ms "
              f"each){'' if ok else '  FAILED'}", flush=True)
    print("\noutcomes (strategy, outcome: count):")
    for (kind, outcome), n in sorted(fuzz_recipes.OUTCOMES.items()):
        print(f"  {kind:10s} {outcome:8s} {n}")
    total = sum(r[1] for r in results)
    wall = sum(r[2] for r in results)
    print(f"\nprofile {args.profile}: {total} recipes checked in {wall:.1f} s; "
          f"property {'held' if all(r[3] for r in results) else 'FAILED'}")
    return 0 if all(r[3] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
