"""Staged training (`stages:`): each stage is a normal launch of the same recipe file, with the
user's overrides plus the stage's own, in its own run directory `<run>/stages/<k>-<name>/`.

A stage's overrides: `stages=[]`; `train.epochs`, `max_steps`, `lr` when it gives them; its
data as `train.datasets`; its `method` (the whole section, e.g. MetaFT's `meta_teacher` stage
then a `supervised` one); every teacher's `objectives` when it lists objectives (`{}` for a
teacher it does not list); `method.hard`; `encoders.<e>.freeze_layers` from `freeze`;
`train.unfreeze`; and, after the first stage, `train.init_from` = the previous stage's folder
with `train.init_checkpoint` = the stage's `start` (`start: derived`: no weights, the previous
stage's AdaBERT architecture instead, as `encoders.<e>.architecture`). Workers re-load the
recipe from its file with these overrides, exactly as for an unstaged run, so every stage's run
directory holds a resolved recipe that trains on its own.

The top-level run directory gets the resolved recipe, `stages.json` (per stage: name, status,
run dir, best metric, steps, wall time), summary.md, and result.json (the last stage's, with
the stages). `--resume` skips finished stages (result.json with outcome done), resumes the first
unfinished one from its own last checkpoint, and runs the rest. `--stop-after N` counts the
steps of every stage together. `evaluate`, `predict`, `export` and `init_from` given the
top-level folder use the last finished stage (`stage_run_dir`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STAGES_FILE = "stages.json"


def stage_dirs(loaded: Any, run_dir: Path) -> list[Path]:
    return [run_dir / "stages" / f"{k}-{s.name}"
            for k, s in enumerate(loaded.recipe.stages, 1)]


def stage_run_dir(run_dir: Path) -> Path | None:
    """The run directory of a staged run's last finished stage; None for an unstaged run dir
    (no stages.json). Raises FileNotFoundError when no stage has finished."""
    record = run_dir / STAGES_FILE
    if not record.is_file():
        return None
    stages = json.loads(record.read_text())["stages"]
    done = [s for s in stages if s.get("status") == "done"]
    if not done:
        raise FileNotFoundError(f"{run_dir} is a staged run none of whose stages has finished")
    return run_dir / done[-1]["run_dir"]


def stage_overrides(loaded: Any, k: int, previous: Path | None) -> list[str]:
    """The `--set` overrides of stage k (0-based), after the user's own."""
    recipe = loaded.recipe
    stage = recipe.stages[k]
    out = ["stages=[]"]
    for key in ("epochs", "max_steps", "lr"):
        value = getattr(stage, key)
        if value is not None:
            out.append(f"train.{key}={json.dumps(value)}")
    if stage.data is not None:
        names = [stage.data] if isinstance(stage.data, str) else list(stage.data)
        out.append(f"train.datasets={json.dumps(names)}")
    if stage.method is not None:  # replaces the recipe's method section as a whole
        method = stage.method.model_dump(mode="json", exclude_unset=True)
        out.append(f"method={json.dumps(method)}")
    if stage.objectives is not None:
        for teacher in recipe.teachers:
            objectives = stage.objectives.get(teacher)
            value = {} if objectives is None else objectives.model_dump(mode="json",
                                                                        exclude_none=True)
            out.append(f"teachers.{teacher}.objectives={json.dumps(value)}")
    if stage.hard is not None:
        out.append(f"method.hard={json.dumps(stage.hard)}")
    for enc, n in stage.freeze.items():
        out.append(f"encoders.{enc}.freeze_layers={n}")
    if "unfreeze" in stage.model_fields_set:
        out.append(f"train.unfreeze={stage.unfreeze}")
    if previous is not None and stage.start == "derived":
        out.extend(_derived(recipe, previous))
    elif previous is not None:
        out.append(f"train.init_from={json.dumps(str(previous.resolve()))}")
        out.append(f"train.init_checkpoint={stage.start}")
    return out


def _derived(recipe: Any, previous: Path) -> list[str]:
    """`start: derived`: every searched encoder takes the search stage's architecture, inline
    once the search has written it (so the stage's resolved recipe and its exported bundles
    stand alone), else as the file's path (checked before the search runs: a warning)."""
    from ..recipe.adabert_space import ARCHITECTURE_FILE, load_architecture
    from ..recipe.check_adabert import searched_encoders

    out = []
    path = (previous / ARCHITECTURE_FILE).resolve()
    for enc in searched_encoders(recipe):
        if path.is_file():
            genotype = load_architecture(path, enc)
            value = [[{"input": i, "op": op} for i, op in node] for node in genotype]
            out.append(f"encoders.{enc}.architecture={json.dumps(value)}")
        else:
            out.append(f"encoders.{enc}.architecture={json.dumps(str(path))}")
    return out


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _record(stage_dir: Path, run_dir: Path, name: str, status: str,
            earlier: dict[str, Any] | None) -> dict[str, Any]:
    result = _read_json(stage_dir / "result.json") or {}
    best = result.get("best_eval") or {}
    metric = result.get("metric")
    wall = float((result.get("timing") or {}).get("wall_s", 0.0))
    if earlier and earlier.get("status") == "stopped":
        wall += float(earlier.get("wall_s", 0.0))  # the launches before a resume
    return {
        "name": name,
        "status": status,
        "run_dir": str(stage_dir.relative_to(run_dir)),
        "metric": metric,
        "best": best.get(metric) if metric else None,
        "best_step": best.get("step"),
        "steps": result.get("step", 0),
        "wall_s": round(wall, 3),
    }


def _write(run_dir: Path, loaded: Any, records: list[dict[str, Any]]) -> None:
    (run_dir / STAGES_FILE).write_text(json.dumps(
        {"fingerprint": loaded.fingerprint, "stages": records}, indent=2))
    lines = [f"# etdecl staged run: {loaded.recipe.name}", "",
             "| # | stage | status | steps | best dev metric | wall time | run directory |",
             "|---|---|---|---|---|---|---|"]
    for k, r in enumerate(records, 1):
        best = "" if r.get("best") is None else f"{r['metric']} {r['best']:.4f}"
        lines.append(f"| {k} | {r['name']} | {r['status']} | {r.get('steps', 0)} | {best} | "
                     f"{r.get('wall_s', 0.0):.1f} s | {r['run_dir']} |")
    (run_dir / "summary.md").write_text("\n".join(lines) + "\n")


def _say(text: str, stderr: bool = False) -> None:
    from ..consoles import say

    say(text, stderr=stderr)


def run_stages(loaded: Any, nproc: int = 1, resume: bool = False, run_dir: Path | None = None,
               stop_after: int | None = None, **launch_kw: Any) -> int:
    """Train every stage in order (see the module's doc). Returns a process exit code."""
    from ..recipe.errors import RecipeError
    from ..recipe.show import render_resolved
    from ..recipe.validate import load_recipe
    from .launch import launch

    recipe = loaded.recipe
    run_dir = run_dir or Path(recipe.train.output_dir) / recipe.name
    dirs = stage_dirs(loaded, run_dir)
    record_file = run_dir / STAGES_FILE
    started = any((d / "checkpoints" / "last").is_file() for d in dirs)
    if resume and not (started or record_file.is_file()):
        _say(f"error: --resume: no staged run in {run_dir}", stderr=True)
        return 2
    if not resume and (started or (run_dir / "checkpoints" / "last").is_file()):
        _say(f"error: {run_dir} already holds a run; continue it with --resume, or choose "
             "another --run-dir", stderr=True)
        return 2
    old = _read_json(record_file) if resume else None
    if old is not None and old.get("fingerprint") != loaded.fingerprint:
        _say(f"error: --resume: {run_dir} was trained by recipe "
             f"{str(old.get('fingerprint'))[:16]}, but this recipe is "
             f"{loaded.fingerprint[:16]}", stderr=True)
        return 2
    # every stage's recipe is checked before the first trains (a later stage's init_from
    # does not exist yet: a warning only)
    per_stage: list[list[str]] = []
    try:
        for k in range(len(recipe.stages)):
            extra = stage_overrides(loaded, k, dirs[k - 1] if k else None)
            per_stage.append(loaded.overrides + extra)
            load_recipe(loaded.file, per_stage[-1])
    except RecipeError as err:
        _say(f"stage {k + 1} ({recipe.stages[k].name}):", stderr=True)
        _say(str(err), stderr=True)
        return 1
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "recipe.yaml").write_text(render_resolved(loaded), encoding="utf-8")
    (run_dir / "fingerprint").write_text(loaded.fingerprint + "\n")
    earlier = {r["name"]: r for r in (old or {}).get("stages", [])}
    records = [earlier.get(s.name) or {"name": s.name, "status": "pending",
                                       "run_dir": str(d.relative_to(run_dir)), "steps": 0,
                                       "wall_s": 0.0}
               for s, d in zip(recipe.stages, dirs, strict=True)]
    _write(run_dir, loaded, records)
    used = 0
    n = len(recipe.stages)
    for k, (stage, sdir) in enumerate(zip(recipe.stages, dirs, strict=True)):
        result = _read_json(sdir / "result.json")
        if result is not None and result.get("outcome") == "done":
            used += int(result.get("step", 0))
            records[k] = _record(sdir, run_dir, stage.name, "done", records[k])
            _say(f"stage {k + 1}/{n} {stage.name}: finished already, skipped")
            continue
        left = None if stop_after is None else stop_after - used
        if left is not None and left <= 0:
            break
        if stage.start == "derived":  # the search has written its architecture by now
            per_stage[k] = loaded.overrides + stage_overrides(loaded, k, dirs[k - 1])
        stage_loaded = load_recipe(loaded.file, per_stage[k])
        again = resume and (sdir / "checkpoints" / "last").is_file()
        _say(f"stage {k + 1}/{n} {stage.name}" + (" (resumed)" if again else ""))
        code = launch(stage_loaded, nproc=nproc, resume=again, run_dir=sdir, stop_after=left,
                      **launch_kw)
        result = _read_json(sdir / "result.json") if code == 0 else None
        status = "failed" if code != 0 else (result or {}).get("outcome", "failed")
        records[k] = _record(sdir, run_dir, stage.name, status, records[k])
        _write(run_dir, loaded, records)
        if code != 0:
            return code
        if status != "done":
            _say(f"stopped in stage {k + 1}/{n} {stage.name}; continue with `etdecl train ... "
                 "--resume`")
            return 0
        used += int((result or {}).get("step", 0))
    _write(run_dir, loaded, records)
    if all(r["status"] == "done" for r in records):
        last = _read_json(dirs[-1] / "result.json") or {}
        final = dict(last, stages=records, fingerprint=loaded.fingerprint)
        (run_dir / "result.json").write_text(json.dumps(final, indent=2))
    return 0
