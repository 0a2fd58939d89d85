"""bf16 autocast on ddp and train.compile: checked, trained end to end, and falling back clearly."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from torch import nn
from training_support import load_weights, read_metrics, run_cli

from etdecl.engine import speed
from etdecl.recipe.schema import ParallelConfig


def _with_parallel(recipe: Path, parallel: str) -> Path:
    recipe.write_text(recipe.read_text() + f"parallel: {parallel}\n")
    return recipe


def _train_losses(run: Path) -> list[float]:
    return [m["loss"] for m in read_metrics(run) if m["split"] == "train"]


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_ddp_takes_fp32_and_bf16_and_refuses_fp16_where_it_is_written(tiny_recipe, precision):
    recipe = _with_parallel(tiny_recipe(), f"{{plugin: ddp, precision: {precision}}}")
    proc = run_cli("validate", str(recipe), "--no-data")
    if precision != "fp16":
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    line = len(recipe.read_text().splitlines())  # the parallel: line, the file's last
    assert re.search(rf"tiny\.yaml:{line}:\d+", out), out
    assert "loss scaler" in out and "parallel.precision" in out, out


def test_bf16_on_ddp_computes_in_bf16_and_keeps_fp32_weights(tiny_recipe, tmp_path):
    recipe = tiny_recipe(epochs=1, dropout=0.0)
    fp32, bf16 = tmp_path / "fp32", tmp_path / "bf16"
    assert run_cli("train", str(recipe), "--run-dir", str(fp32)).returncode == 0
    proc = run_cli("train", str(recipe), "--run-dir", str(bf16),
                   "--set", "parallel.precision=bf16")
    assert proc.returncode == 0, proc.stderr
    a, b = _train_losses(fp32), _train_losses(bf16)
    assert len(a) == len(b) == 20
    # bf16 matmuls round differently (so autocast is on) but train the same model
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) > 1e-5, (a, b)
    assert abs(a[0] - b[0]) < 0.02 * abs(a[0]), (a[0], b[0])
    assert b[-1] < 0.7 * b[0], b
    dev = [m for m in read_metrics(bf16) if m["split"] == "dev"]
    assert dev[-1]["cls.accuracy"] >= 0.9, dev[-1]
    last = (bf16 / "checkpoints" / "last").read_text().strip()
    weights = load_weights(bf16 / "checkpoints" / last / "model.safetensors")
    assert {w.dtype for w in weights.values() if w.is_floating_point()} == {torch.float32}
    timing = json.loads((bf16 / "result.json").read_text())["timing"]
    assert timing["precision"] == "bf16" and timing["train_step_s"] > 0


def test_compiled_training_follows_eager_and_reports_compile_time_apart(tiny_recipe, tmp_path):
    recipe = tiny_recipe(epochs=1, dropout=0.0)
    eager, compiled = tmp_path / "eager", tmp_path / "compiled"
    assert run_cli("train", str(recipe), "--run-dir", str(eager)).returncode == 0
    proc = run_cli("train", str(recipe), "--run-dir", str(compiled), "--set", "train.compile=true")
    assert proc.returncode == 0, proc.stderr
    assert "training eagerly" not in proc.stderr
    a, b = _train_losses(eager), _train_losses(compiled)
    assert len(a) == len(b) == 20
    for x, y in zip(a, b, strict=True):  # same batches, same initial weights, fused kernels
        assert abs(x - y) <= 1e-3 * max(1.0, abs(x)), (a, b)
    timing = json.loads((compiled / "result.json").read_text())["timing"]
    assert timing["compiled"] and timing["compile_s"] > 0
    assert [m for m in read_metrics(compiled) if m["split"] == "compile"]
    assert "not in step time" in (compiled / "summary.md").read_text()


def test_compile_on_a_sharding_plugin_trains_eagerly_with_one_message(tiny_recipe, tmp_path):
    recipe = _with_parallel(tiny_recipe(epochs=1, dropout=0.0), "{plugin: zero, zero_stage: 1}")
    run = tmp_path / "run"
    proc = run_cli("train", str(recipe), "--run-dir", str(run), "--set", "train.compile=true")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    warnings = [x for x in proc.stderr.splitlines() if "train.compile: training eagerly" in x]
    assert len(warnings) == 1 and "plugin 'zero'" in proc.stderr, proc.stderr
    notices = [m for m in read_metrics(run) if m["split"] == "notice"]
    assert len(notices) == 1 and "plugin 'zero'" in notices[0]["message"]
    assert not json.loads((run / "result.json").read_text())["timing"]["compiled"]


@pytest.mark.parametrize("plugin", ["ddp", "zero", "gemini", "hybrid"])
def test_only_ddp_is_compiled(plugin):
    reason = speed.why_not_compile(ParallelConfig(plugin=plugin))
    assert (reason is None) == (plugin == "ddp")
    if reason:
        assert f"plugin '{plugin}'" in reason


def test_no_compiler_is_named(monkeypatch):
    monkeypatch.setattr(speed.shutil, "which", lambda name: None)
    assert "C++ compiler" in (speed.why_not_compile(ParallelConfig()) or "")


@pytest.mark.parametrize("plugin,precision,autocast", [
    ("ddp", "fp32", False), ("ddp", "bf16", True), ("zero", "bf16", False),
    ("gemini", "bf16", False), ("hybrid", "bf16", False)])
def test_only_ddp_bf16_autocasts_in_the_loop(plugin, precision, autocast):
    plan = ParallelConfig(plugin=plugin, precision=precision)
    with speed.precision_context(plan)():
        out = nn.Linear(4, 4)(torch.ones(2, 4))
    assert (out.dtype == torch.bfloat16) == autocast
    assert speed.to_fp32({"x": out})["x"].dtype == torch.float32


class _Dropped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 2)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"y": self.lin(self.drop(x))}


def _failing_backend(gm, example_inputs):
    raise RuntimeError("unsupported operator in this graph")


def test_a_graph_the_compiler_fails_on_stays_eager_untouched():
    torch.manual_seed(0)
    model = _Dropped()
    batch = {"x": torch.randn(3, 4)}
    rng = torch.get_rng_state()
    done = speed.compile_graph(model, batch, batch, speed.precision_context(ParallelConfig()),
                               lambda out, b: out["y"].sum(), backend=_failing_backend)
    assert not done.compiled and "unsupported operator" in (done.reason or ""), done
    assert torch.equal(torch.get_rng_state(), rng)  # dropout's draws are given back
    assert all(p.grad is None for p in model.parameters())
    assert model._compiled_call_impl is None  # eager again
    assert model(**batch)["y"].shape == (3, 2)
