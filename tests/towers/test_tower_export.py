"""A graph with towers exports as a bundle that predicts as its run; rows a domain-routing
tower cannot route are refused naming the domain field, in files, in-memory rows and requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tower_recipes import TOWERS, write_tower_recipe

from etdecl.datafiles.readers import DataError


def _make_run(root: Path, name: str) -> Path:
    from safetensors.torch import save_model

    from etdecl.compile.graph import compile_recipe
    from etdecl.recipe.validate import load_recipe

    run = root / "run"
    run.mkdir()
    recipe = write_tower_recipe(run, name, n_train=32, n_dev=24)
    recipe.rename(run / "recipe.yaml")
    compiled = compile_recipe(load_recipe(run / "recipe.yaml", check_data=False))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # random, distinct weights in heads and towers' domain parts
        for p in [*compiled.model.heads.parameters(), *compiled.model.towers.parameters()]:
            p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    for folder in (run / "checkpoints" / "step-0000001-test", run / "checkpoints" / "best"):
        folder.mkdir(parents=True)
        save_model(compiled.model, str(folder / "model.safetensors"))
        (folder / "state.json").write_text(json.dumps({"step": 1}))
    (run / "checkpoints" / "last").write_text("step-0000001-test\n")
    return run


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("name", list(TOWERS))
def test_tower_graph_bundle_predicts_as_its_run(name, tmp_path):
    from etdecl.engine.inference import evaluate_file, load_model, predict_records
    from etdecl.export.bundle import write_bundle

    run_dir = _make_run(tmp_path, name)
    run = load_model(run_dir)
    bundle = load_model(write_bundle(run, tmp_path / "bundle"))
    rows = _rows(run_dir / "dev.jsonl")
    assert predict_records(run, rows) == predict_records(bundle, rows)
    a, b = evaluate_file(run, run_dir / "dev.jsonl"), evaluate_file(bundle, run_dir / "dev.jsonl")
    assert a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-6 for k in a
                                        if a[k] == a[k])
    fields = bundle.manifest["datasets"]["main"]["fields"]
    assert ("domain" in fields) == (name != "shared"), fields  # every other one routes rows


@pytest.mark.parametrize("name", ["private-top", "drss"])
def test_predicting_needs_the_domain_field(name, tmp_path):
    from etdecl.engine.inference import load_model, predict_file, predict_records
    from etdecl.export.limits import RequestError, ServeLimits, parse_request

    run = load_model(_make_run(tmp_path, name))
    rows = _rows(tmp_path / "run" / "dev.jsonl")
    del rows[3]["domain"]
    with pytest.raises(DataError, match="missing field 'domain'") as err:
        predict_records(run, rows)
    assert err.value.line == 4
    rows[3]["domain"] = "c"
    with pytest.raises(DataError, match="domain 'c' .*is not one of data.domains"):
        predict_records(run, rows)
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "domain"}) + "\n"
                            for r in rows[:2]))
    with pytest.raises(DataError, match="missing field 'domain'") as err:
        list(predict_file(run, path))
    assert err.value.line == 1
    tasks = [run.compiled.tasks[h] for h in run.compiled.dataset_heads["main"]]
    body = json.dumps({"inputs": [{"text": "a fine film"}]}).encode()
    with pytest.raises(RequestError, match="missing field 'domain'") as req:
        parse_request(body, tasks, ServeLimits())
    assert req.value.field == "inputs[0].domain"


@pytest.mark.parametrize("fmt", ["onnx", "hf"])
def test_onnx_and_hf_layouts_refuse_towers_at_the_recipe_key(fmt, tmp_path):
    from etdecl.engine.inference import load_model
    from etdecl.recipe.errors import RecipeError

    run_dir = _make_run(tmp_path, "drss")
    run = load_model(run_dir)
    if fmt == "onnx":
        from etdecl.export.onnx_export import export_onnx as export
    else:
        from etdecl.export.hf import export_hf as export
    with pytest.raises(RecipeError) as err:
        export(run, tmp_path / "out")
    text = (run_dir / "recipe.yaml").read_text().splitlines()
    problem = err.value.problems[0]
    assert "tower" in problem.message
    marker = "  s: {type: shared"
    assert problem.loc.line == 1 + next(i for i, t in enumerate(text) if t.startswith(marker))


def test_plan_lists_towers_with_their_parameters(tmp_path):
    from training_support import run_cli

    recipe = write_tower_recipe(tmp_path, "shared-private-adv-orth")
    proc = run_cli("plan", str(recipe))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "towers" in out
    assert "p " in out and "private (top, top 1 layer(s) × 2 domains: a, b) ← enc, width 32" in out
    assert "shared_private ← s + p, width 64, losses adversarial, orthogonality" in out
