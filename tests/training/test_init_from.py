"""`train.init_from`: a run starts from a finished run's (or a bundle's) weights, matched by
name and shape; bad sources are located recipe errors before training."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from training_support import TINY_RECIPE, read_metrics, run_cli, synthetic_rows, write_jsonl

from etdecl.compile import compile_recipe
from etdecl.engine.init_from import init_from_source, load_matching
from etdecl.recipe.errors import RecipeError
from etdecl.recipe.validate import load_recipe

HEAD = ("heads.cls.proj.weight", "heads.cls.proj.bias")


def _write_data(folder: Path) -> None:
    write_jsonl(folder / "train.jsonl", synthetic_rows(320, seed=1))
    write_jsonl(folder / "dev.jsonl", synthetic_rows(64, seed=2))


def _recipe(folder: Path, name: str = "tiny.yaml", extra: str = "", **swap: str) -> Path:
    """The tiny recipe, with text swapped (`old=new`) and lines added under `train:`."""
    text = TINY_RECIPE.format(epochs=1, dropout=0.1, pooling="mean")
    for old, new in swap.items():
        text = text.replace(old.replace("__", " "), new)
    path = folder / name
    path.write_text(text + extra)
    return path


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> Path:
    """A finished tiny run: the source every test starts from."""
    folder = tmp_path_factory.mktemp("source")
    _write_data(folder)
    run = folder / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ETDECL_CACHE", str(folder / "cache"))
        proc = run_cli("train", str(_recipe(folder)), "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr
    return run


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    _write_data(tmp_path)
    return tmp_path


@pytest.mark.parametrize("kind", ["run", "bundle", "zero"])
def test_second_run_starts_at_the_first_runs_best(first, data_dir, kind):
    """Its step-0 dev evaluation is the first run's best one, and result.json counts weights;
    also under a sharding plugin (ZeRO in bf16: loaded before boosting, within bf16's error)."""
    source = first
    if kind == "bundle":
        source = data_dir / "bundle"
        proc = run_cli("export", str(first), "--format", "bundle", "--output", str(source))
        assert proc.returncode == 0, proc.stderr
    plan = "parallel: {plugin: zero, precision: bf16}\n" if kind == "zero" else ""
    recipe = _recipe(data_dir, extra=f"  init_from: {source}\n{plan}")
    run = data_dir / "second"
    proc = run_cli("train", str(recipe), "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr
    best = json.loads((first / "result.json").read_text())["best_eval"]
    start = next(m for m in read_metrics(run) if m["split"] == "dev")
    assert start["step"] == 0
    for key in ("cls.loss", "cls.accuracy", "cls.macro_f1"):
        assert start[key] == pytest.approx(best[key], abs=2e-3 if plan else 1e-6), key
    assert start["cls.loss"] < 0.8 * math.log(2)  # not chance: the start is a trained net
    done = json.loads((run / "result.json").read_text())["init_from"]
    assert (done["loaded"], done["kept"], done["skipped"]) == (39, 0, 0)
    assert Path(done["source"]) == source
    assert "39 weights loaded" in proc.stderr


def test_a_changed_head_keeps_the_encoder_and_reinitialises_the_head(first, data_dir):
    recipe = _recipe(data_dir, extra=f"  init_from: {first}\n",
                     **{"labels: [neg, pos]": "labels: [neg, pos, mixed]"})
    loaded = load_recipe(recipe)
    model = compile_recipe(loaded).model
    built = {k: v.clone() for k, v in model.state_dict().items()}
    report = init_from_source(loaded, model)
    assert sorted(report.kept) == sorted(HEAD) == sorted(report.skipped)
    assert sorted(report.reshaped) == sorted(HEAD)
    from safetensors.torch import load_file

    source = load_file(str(first / "checkpoints" / "best" / "model.safetensors"))
    now = model.state_dict()
    for key, value in now.items():
        if key in HEAD:
            assert value.shape[0] == 3 and torch.equal(value, built[key]), key
        else:
            assert torch.equal(value, source[key]), key
    assert len(report.loaded) == len(now) - 2
    assert report.as_dict()["kept"] == 2


def test_load_matching_counts_a_tied_alias_as_loaded():
    """A weight shared by two names (tied embeddings) is loaded through either name."""
    model = torch.nn.Module()
    model.a = torch.nn.Linear(3, 3)
    model.b = torch.nn.Linear(3, 3)
    model.b.weight = model.a.weight
    source = {"a.weight": torch.ones(3, 3), "a.bias": torch.ones(3), "b.bias": torch.ones(3)}
    report = load_matching(model, source)
    assert sorted(report.loaded) == ["a.bias", "a.weight", "b.bias", "b.weight"]
    assert torch.equal(model.b.weight, torch.ones(3, 3))


def _where_init(path: Path) -> tuple[int, int]:
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if "init_from:" in line:
            return i, line.index("init_from:") + len("init_from: ") + 1
    raise AssertionError("no init_from line")


@pytest.mark.parametrize("case", ["empty folder", "a file", "unset variable"])
def test_a_source_that_is_no_run_nor_bundle_is_a_located_error(data_dir, case):
    value = {"empty folder": "nothing/", "a file": "train.jsonl",
             "unset variable": "${ETDECL_NO_SUCH_VAR_11}/run"}[case]
    (data_dir / "nothing").mkdir()
    recipe = _recipe(data_dir, extra=f"  init_from: {value}\n")
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe)
    line, col = _where_init(recipe)
    text = str(err.value)
    assert f"{recipe}:{line}:{col}" in text or f"tiny.yaml:{line}:{col}" in text, text
    assert "train.init_from" in text
    proc = run_cli("validate", str(recipe))
    assert proc.returncode == 1 and f":{line}:{col}" in proc.stdout + proc.stderr


def test_a_source_not_trained_yet_is_a_warning_then_a_training_error(data_dir):
    recipe = _recipe(data_dir, extra="  init_from: runs/not-yet\n")
    loaded = load_recipe(recipe)  # a staged recipe validates before its source stage ran
    assert [w.message for w in loaded.warnings if "init_from" in w.path] == [
        f"init_from not found (checked at training time): {data_dir / 'runs/not-yet'}"]
    proc = run_cli("train", str(recipe), "--run-dir", str(data_dir / "run"))
    line, col = _where_init(recipe)
    assert proc.returncode == 1
    assert f":{line}:{col}" in proc.stderr and "cannot start from it" in proc.stderr, proc.stderr


def test_a_source_with_no_matching_weight_is_a_training_error(first, data_dir):
    other = data_dir / "other"
    shutil.copytree(first, other)
    text = (other / "recipe.yaml").read_text()
    (other / "recipe.yaml").write_text(text.replace("  enc:", "  words:").replace(
        "input: enc", "input: words").replace("  cls:", "  polarity:"))
    state = compile_recipe(load_recipe(other / "recipe.yaml", check_data=False)).model
    from safetensors.torch import save_model

    save_model(state, str(other / "checkpoints" / "best" / "model.safetensors"))
    recipe = _recipe(data_dir, extra=f"  init_from: {other}\n")
    with pytest.raises(RecipeError) as err:
        init_from_source(load_recipe(recipe), compile_recipe(load_recipe(recipe)).model)
    assert "no weight of the source matches this graph" in str(err.value)
    line, col = _where_init(recipe)
    assert f":{line}:{col}" in str(err.value)


def test_resume_ignores_init_from(first, data_dir):
    """The run's own checkpoint wins: resuming needs no source any more."""
    source = data_dir / "source-copy"
    shutil.copytree(first, source)
    recipe = _recipe(data_dir, extra=f"  init_from: {source}\n")
    run = data_dir / "run"
    proc = run_cli("train", str(recipe), "--run-dir", str(run), "--stop-after", "5")
    assert proc.returncode == 0, proc.stderr
    shutil.rmtree(source / "checkpoints")
    proc = run_cli("train", str(recipe), "--run-dir", str(run), "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "weights loaded" not in proc.stderr
    assert "init_from" not in json.loads((run / "result.json").read_text())
