"""AdaBERT through `etdecl train`: a tiny searched student distilled from a tiny trained
teacher on synthetic rows, searched then retrained from scratch (`start: derived`).

The search steps its architecture weights on held-out rows (one step before every weight
step, the temperature annealed), writes the argmax architecture as a recipe fragment, the
retrain stage builds exactly those cells from scratch and its loss falls, `plan` shows the
derived cells with their parameters and FLOPs, and a run stopped inside the search and again
inside the retrain resumes to the same weights, bit for bit, as one uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from adabert_support import STAGES, adabert_recipe
from distill_recipes import train_teacher
from training_support import load_weights, read_metrics, run_cli

from etdecl.components.adabert import AdaBERTCells
from etdecl.recipe.adabert_space import OPS, load_architecture

SEARCH_STEPS = 12  # 64 rows, 16 held out: 48 / 8 = 6 steps × 2 epochs
RETRAIN_STEPS = 16  # all 64 rows again: 8 steps × 2 epochs


def last_weights(stage: Path) -> dict:
    ckpt = stage / "checkpoints"
    return load_weights(ckpt / (ckpt / "last").read_text().strip() / "model.safetensors")


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("adabert")
    teacher = train_teacher(folder)
    recipe = adabert_recipe(folder, teacher, extra=STAGES)
    run = folder / "run"
    proc = run_cli("train", str(recipe), "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {"folder": folder, "recipe": recipe, "run": run,
            "search": run / "stages" / "1-search", "retrain": run / "stages" / "2-retrain"}


def test_search_steps_the_architecture_on_held_out_rows(staged: dict) -> None:
    search = staged["search"]
    train = [m for m in read_metrics(search) if m["split"] == "train"]
    assert [m["step"] for m in train] == list(range(1, SEARCH_STEPS + 1))
    assert all("arch.cost" in m and "arch.loss.cls" in m for m in train)  # an arch step each
    taus = [m["arch.tau"] for m in train]
    assert taus[0] == pytest.approx(1.0) and taus[-1] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(taus, taus[1:], strict=False))
    alpha = last_weights(search)["encoders.student.arch_alpha"]
    start = 1e-3 * torch.randn(alpha.shape, generator=torch.Generator().manual_seed(0))
    assert float((alpha - start).abs().max()) > 0.05  # moved (arch_lr 0.05)
    summary = (search / "summary.md").read_text()
    assert "16 training rows" in summary  # held out: 25 % of 64
    result = json.loads((search / "result.json").read_text())
    assert result["step"] == SEARCH_STEPS


def test_architecture_file_is_the_argmax_and_a_recipe_fragment(staged: dict) -> None:
    search = staged["search"]
    alpha = last_weights(search)["encoders.student.arch_alpha"]
    enc = AdaBERTCells(torch.nn.Embedding(4, 16), cells=2, nodes=2, hidden=16,
                       ops=list(OPS), dropout=0.0)
    with torch.no_grad():
        enc.arch_alpha.copy_(alpha)
    text = (search / "architecture.yaml").read_text()
    assert "\nencoders:\n  student:\n    architecture:\n" in text
    assert load_architecture(search / "architecture.yaml", "student") == enc.derive(2)


def test_retrain_builds_the_derived_cells_from_scratch(staged: dict) -> None:
    genotype = load_architecture(staged["search"] / "architecture.yaml", "student")
    retrain = staged["retrain"]
    from ruamel.yaml import YAML

    resolved = YAML(typ="safe").load((retrain / "recipe.yaml").read_text())
    assert resolved["train"]["init_from"] is None  # from scratch: no weights carried over
    assert resolved["encoders"]["student"]["architecture"] == [
        [{"input": i, "op": op} for i, op in node] for node in genotype]  # inline
    weights = last_weights(retrain)
    assert not any("arch_alpha" in k for k in weights)
    kept = {k.split(".kept.")[1].split(".")[0] for k in weights if ".kept." in k}
    expected = {f"n{j}_in{i}" for j, node in enumerate(genotype) for i, op in node
                if op.startswith(("cnn", "dilcnn"))}
    assert kept == expected
    train = [m for m in read_metrics(retrain) if m["split"] == "train"]
    assert len(train) == RETRAIN_STEPS
    first, last = train[0]["loss"], sum(m["loss"] for m in train[-4:]) / 4
    assert last < first
    stages = json.loads((staged["run"] / "stages.json").read_text())["stages"]
    assert [s["status"] for s in stages] == ["done", "done"]


def test_plan_shows_the_derived_cells_with_parameters_and_flops(staged: dict) -> None:
    arch = staged["search"] / "architecture.yaml"  # the fragment, given as a file
    proc = run_cli("plan", str(staged["recipe"]), "--set", "stages=[]", "--set",
                   "method={type: distill, cache: false}", "--set",
                   f"encoders.student.architecture={arch}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "adabert encoder student" in out
    genotype = load_architecture(staged["search"] / "architecture.yaml", "student")
    from etdecl.recipe.adabert_space import describe

    for line in describe(genotype):
        assert line in out
    assert "MFLOPs per example" in out and "parameters" in out


def test_search_and_retrain_both_resume_bit_for_bit(staged: dict, tmp_path: Path) -> None:
    run = tmp_path / "parts"
    recipe = staged["recipe"]
    first = run_cli("train", str(recipe), "--run-dir", str(run), "--stop-after", "5")
    assert first.returncode == 0, first.stderr[-3000:]
    assert not (run / "stages" / "2-retrain").exists()
    second = run_cli("train", str(recipe), "--run-dir", str(run), "--resume",
                     "--stop-after", str(SEARCH_STEPS + 3))
    assert second.returncode == 0, second.stderr[-3000:]
    assert json.loads((run / "stages" / "2-retrain" / "result.json").read_text())[
        "outcome"] == "stopped"
    third = run_cli("train", str(recipe), "--run-dir", str(run), "--resume")
    assert third.returncode == 0, third.stderr[-3000:]
    for stage in ("1-search", "2-retrain"):
        mine = last_weights(run / "stages" / stage)
        ref = last_weights(staged[stage.split("-")[1]])
        assert mine.keys() == ref.keys()
        for key in ref:
            assert torch.equal(mine[key], ref[key]), (stage, key)
    assert load_architecture(run / "stages" / "1-search" / "architecture.yaml") == \
        load_architecture(staged["search"] / "architecture.yaml")
