"""Staged training (`stages:`): stages run in order with their own epochs, lr, data and frozen
layers, each from the previous one's weights; the top-level run directory stands for the last
stage; `--resume` continues mid-stage; gradual unfreezing thaws layers from the top."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from training_support import (
    TINY_ENCODER,
    load_weights,
    read_metrics,
    run_cli,
    synthetic_rows,
    write_jsonl,
)

from etdecl.recipe.errors import RecipeError
from etdecl.recipe.validate import load_recipe

RECIPE = """\
etdecl: 1
name: staged
data:
  max_length: 16
  fields: {text: text, label: label, domain: domain}
  sets:
    src: {train: {path: src-train.jsonl}, dev: {path: src-dev.jsonl}}
    tgt: {train: {path: tgt-train.jsonl}, dev: {path: tgt-dev.jsonl}}
encoders:
""" + TINY_ENCODER + """\
heads:
  cls: {type: classify, input: enc, data: [src, tgt], labels: [neg, pos], dropout: 0.1}
train:
  epochs: 1
  batch_size: 16
  lr: 3.0e-3
  warmup: 0.0
  log_every: 1
  seed: 3
"""

STAGES = """\
stages:
  - {name: source, data: src, epochs: 1}
  - {name: target, data: [tgt], epochs: 2, lr: 1.0e-3, freeze: {enc: 1}}
  - {name: polish, data: tgt, max_steps: 4, lr: 5.0e-4, unfreeze: gradual}
"""
STEPS = [10, 12, 4]  # 160 src rows / 16; 96 tgt rows / 16 × 2 epochs; max_steps


def _write(folder: Path, stages: str = STAGES) -> Path:
    write_jsonl(folder / "src-train.jsonl", synthetic_rows(160, seed=1))
    write_jsonl(folder / "src-dev.jsonl", synthetic_rows(32, seed=2))
    write_jsonl(folder / "tgt-train.jsonl", synthetic_rows(96, seed=3))
    write_jsonl(folder / "tgt-dev.jsonl", synthetic_rows(32, seed=4))
    path = folder / "staged.yaml"
    path.write_text(RECIPE + stages)
    return path


def _last(run_dir: Path) -> dict[str, torch.Tensor]:
    last = (run_dir / "checkpoints" / "last").read_text().strip()
    return load_weights(run_dir / "checkpoints" / last / "model.safetensors")


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("staged")
    recipe = _write(folder)
    run = folder / "whole"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ETDECL_CACHE", str(folder / "cache"))
        proc = run_cli("train", str(recipe), "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "stage 2/3 target" in proc.stdout + proc.stderr
    return recipe, run


def test_stages_run_in_order_with_their_own_epochs_lr_data_and_freezing(whole):
    _, run = whole
    record = json.loads((run / "stages.json").read_text())["stages"]
    assert [r["name"] for r in record] == ["source", "target", "polish"]
    assert [r["status"] for r in record] == ["done"] * 3
    assert [r["steps"] for r in record] == STEPS
    dirs = [run / r["run_dir"] for r in record]
    assert [d.name for d in dirs] == ["1-source", "2-target", "3-polish"]
    for d, steps, lr, data in zip(dirs, STEPS, [3e-3, 1e-3, 5e-4], [["src"], ["tgt"], ["tgt"]],
                                  strict=True):
        result = json.loads((d / "result.json").read_text())
        assert result["outcome"] == "done" and result["step"] == steps
        train = [m for m in read_metrics(d) if m["split"] == "train"]
        assert len(train) == steps
        assert train[0]["lr"] == pytest.approx(lr * (steps - 1) / steps)  # linear decay
        stage = load_recipe(d / "recipe.yaml", check_data=False).recipe
        assert stage.train.datasets == data and stage.stages == []
    # stage 2 starts from stage 1's last weights: its step-0 evaluation is stage 1's last one
    first = json.loads((dirs[0] / "result.json").read_text())
    second = json.loads((dirs[1] / "result.json").read_text())
    assert second["init_from"]["source"] == str(dirs[0].resolve())
    step0 = [m for m in read_metrics(dirs[1]) if m["split"] == "dev"][0]
    assert step0["step"] == 0
    assert step0["loss"] == pytest.approx(first["last_eval"]["loss"], abs=1e-6)
    # stage 2 froze the encoder's bottom layer; stage 3 trained it again (top thawed first)
    a, b, c = (_last(d) for d in dirs)
    bottom = "encoders.enc.backbone.encoder.layer.0.attention.self.query.weight"
    top = "encoders.enc.backbone.encoder.layer.1.attention.self.query.weight"
    assert torch.equal(a[bottom], b[bottom]) and not torch.equal(a[top], b[top])
    assert not torch.equal(b[top], c[top])
    polish = [m for m in read_metrics(dirs[2]) if m["split"] == "train"]
    assert [m["unfrozen_layers"] for m in polish] == [1, 1, 2, 3]
    summary = (run / "summary.md").read_text()
    assert "| 2 | target | done | 12 |" in summary
    assert json.loads((run / "result.json").read_text())["step"] == 4


def test_the_top_level_run_dir_evaluates_and_predicts_with_the_last_stage(whole):
    from etdecl.engine.inference import load_model

    recipe, run = whole
    loaded = load_model(run)
    assert "3-polish" in str(loaded.checkpoint)
    proc = run_cli("evaluate", str(run), "--data", str(recipe.parent / "tgt-dev.jsonl"),
                   "--dataset", "tgt")
    assert proc.returncode == 0, proc.stderr
    record = json.loads((run / "evaluations" / "test.json").read_text())
    assert "3-polish" in record["checkpoint"]
    write_jsonl(recipe.parent / "unlabelled.jsonl", [{"text": "a lovely film"}])
    out = recipe.parent / "pred.jsonl"
    proc = run_cli("predict", str(run), "--input", str(recipe.parent / "unlabelled.jsonl"),
                   "--output", str(out), "--dataset", "tgt")
    assert proc.returncode == 0, proc.stderr


def test_a_stopped_stage_resumes_mid_stage_and_ends_where_an_uninterrupted_run_does(whole):
    recipe, run = whole
    parts = recipe.parent / "parts"
    first = run_cli("train", str(recipe), "--run-dir", str(parts), "--stop-after", "15")
    assert first.returncode == 0, first.stderr
    record = json.loads((parts / "stages.json").read_text())["stages"]
    assert [r["status"] for r in record] == ["done", "stopped", "pending"]
    target = parts / "stages" / "2-target"
    assert (target / "checkpoints" / "last").read_text().startswith("step-0000005-")
    again = run_cli("train", str(recipe), "--run-dir", str(parts))
    assert again.returncode != 0 and "--resume" in again.stderr  # never overwrites a run
    second = run_cli("train", str(recipe), "--run-dir", str(parts), "--resume")
    assert second.returncode == 0, second.stderr
    out = second.stdout + second.stderr
    assert "stage 1/3 source: finished already" in out
    assert "resumed from" in out and "at step 5" in out  # not from scratch
    record = json.loads((parts / "stages.json").read_text())["stages"]
    assert [r["status"] for r in record] == ["done"] * 3
    steps = [m["step"] for m in read_metrics(target) if m["split"] == "train"]
    assert steps == list(range(1, 13))
    for name in ("2-target", "3-polish"):
        a, b = _last(run / "stages" / name), _last(parts / "stages" / name)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), (name, key)


def test_stage_names_are_checked(tmp_path):
    bad = """\
stages:
  - {name: one, data: nowhere, objectives: {ghost: {}}, freeze: {encc: 1}}
  - {name: one, hard: 0.5, unfreeze: gradual}
parallel: {plugin: zero}
"""
    with pytest.raises(RecipeError) as err:
        load_recipe(_write(tmp_path, bad), check_data=False)
    text = str(err.value)
    for part in ("dataset 'nowhere' is not declared", "teacher 'ghost' is not declared",
                 "encoder 'encc' is not declared",
                 "stage 'one' is named twice", "needs method: distill",
                 "gradual unfreezing needs the ddp plugin"):
        assert part in text, part
    assert "staged.yaml:" in text


def test_train_datasets_must_exist(tmp_path):
    path = _write(tmp_path, "")
    with pytest.raises(RecipeError, match="no dataset 'tgx'"):
        load_recipe(path, ["train.datasets=[tgx]"], check_data=False)


def test_gradual_unfreezing_thaws_from_the_top_and_keeps_frozen_layers_fixed():
    """A frozen layer does not change during its frozen phase and changes once it thaws;
    `freeze_layers` never thaws."""
    from transformers import BertConfig, BertModel

    from etdecl.components.encoders import HFTextEncoder, _freeze
    from etdecl.engine.unfreeze import GradualUnfreeze

    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=64, vocab_size=100, max_position_embeddings=32)
    enc = HFTextEncoder(BertModel(config, add_pooling_layer=False), "mean")
    _freeze(enc, False, 1)  # layer 1 (bottom) fixed throughout
    head = torch.nn.Linear(32, 2)
    params = [p for p in [*enc.parameters(), *head.parameters()] if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01)
    thaw = GradualUnfreeze({"enc": enc}, total_steps=8)  # 4 phases of 2 steps
    names = {"emb": "backbone.embeddings.word_embeddings.weight",
             **{f"l{i}": f"backbone.encoder.layer.{i - 1}.output.dense.weight"
                for i in (1, 2, 3)}}
    get = dict(enc.named_parameters())
    ids = torch.randint(5, 95, (4, 6))
    seen = []
    for step in range(8):
        before = {k: get[n].detach().clone() for k, n in names.items()}
        loss = head(enc(ids, torch.ones_like(ids)).pooled).logsumexp(-1).mean()
        loss.backward()
        thaw.apply(step)
        opt.step()
        opt.zero_grad()
        seen.append({k for k, n in names.items() if not torch.equal(before[k], get[n])})
    assert thaw.unfrozen(0) == {"enc": 1} and thaw.unfrozen(7) == {"enc": 4}
    assert seen[:2] == [{"l3"}] * 2
    assert seen[2:4] == [{"l3", "l2"}] * 2
    assert seen[4:6] == [{"l3", "l2"}] * 2  # layer 1 would thaw now, but freeze_layers holds it
    assert seen[6:] == [{"l3", "l2", "emb"}] * 2


def test_a_stages_objectives_replace_every_teachers(tmp_path):
    """Teachers the stage does not list teach nothing in it; `hard` sets method.hard."""
    from etdecl.engine.stages import stage_overrides

    stages = """\
teachers:
  big: {model: minilm-l6, objectives: {pkd: {}}}
  other: {model: minilm-l6, objectives: {minilm: {}}}
method: {type: distill}
stages:
  - {name: hidden, objectives: {big: {tinybert: {parts: [hidden]}}}, hard: 0}
  - {name: plain, start: best}
"""
    path = _write(tmp_path, stages)
    loaded = load_recipe(path, check_data=False)
    first = load_recipe(path, stage_overrides(loaded, 0, None), check_data=False).recipe
    assert first.teachers["big"].objectives.names() == ["tinybert"]
    assert first.teachers["big"].objectives.tinybert.parts == ["hidden"]
    assert first.teachers["other"].objectives.names() == []
    assert first.method.hard == 0 and first.stages == []
    prev = tmp_path / "run" / "stages" / "1-hidden"
    second = load_recipe(path, stage_overrides(loaded, 1, prev), check_data=False).recipe
    assert second.teachers["other"].objectives.names() == ["minilm"]  # as declared
    assert second.train.init_from == str(prev.resolve())
    assert second.train.init_checkpoint == "best"
