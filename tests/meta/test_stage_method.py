"""MetaFT from one recipe: a stage may switch the training method (`stages[*].method`). The
meta stage trains the meta-teacher over every domain's rows; the next stage really fine-tunes
with `supervised` on the target's rows alone, from the meta stage's weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from meta_support import sentiment_rows
from training_support import TINY_ENCODER, load_weights, read_metrics, run_cli, write_jsonl

from etdecl.engine.stages import stage_overrides
from etdecl.recipe.registry import METHOD_TYPES
from etdecl.recipe.schema_teachers import Stage
from etdecl.recipe.validate import load_recipe

RECIPE = """\
etdecl: 1
name: metaft-tiny
data:
  fields: {text: text, label: label, domain: domain}
  max_length: 16
  sets:
    meta: {train: {path: all-train.jsonl}, dev: {path: all-dev.jsonl}}
    target: {train: {path: tgt-train.jsonl}, dev: {path: tgt-dev.jsonl}}
encoders:
""" + TINY_ENCODER + """\
heads:
  cls: {type: classify, input: enc, data: [meta, target], labels: [neg, pos], dropout: 0.0}
train: {epochs: 2, batch_size: 16, lr: 3.0e-3, warmup: 0.1, eval_every: 100, log_every: 1,
        metric: "cls.accuracy[a]", seed: 3}
stages:
  - name: meta
    data: meta
    method: {type: meta_teacher, corruption: 0.5}
    epochs: 1
  - name: finetune
    data: target
    method: {type: supervised}
"""


def write(folder: Path) -> Path:
    write_jsonl(folder / "all-train.jsonl", sentiment_rows(96, 1))
    write_jsonl(folder / "all-dev.jsonl", sentiment_rows(32, 2))
    target = [dict(r, domain="a") for r in sentiment_rows(32, 3)]
    write_jsonl(folder / "tgt-train.jsonl", target)
    write_jsonl(folder / "tgt-dev.jsonl", [dict(r, domain="a") for r in sentiment_rows(16, 4)])
    path = folder / "metaft.yaml"
    path.write_text(RECIPE)
    return path


def test_the_stage_union_holds_every_registered_method():
    """A method registered after `Stage` was built would be missing from stages: keep every
    built-in registered before it."""
    from etdecl.recipe.annotations import type_names

    assert sorted(type_names(Stage.model_fields["method"].annotation)) == sorted(
        METHOD_TYPES.names())


def test_a_stage_method_replaces_the_recipes_method(tmp_path):
    loaded = load_recipe(write(tmp_path), check_data=False)
    assert loaded.recipe.method.type == "supervised"
    first = stage_overrides(loaded, 0, None)
    assert 'method={"type": "meta_teacher", "corruption": 0.5}' in first
    stage1 = load_recipe(loaded.file, first, check_data=False).recipe
    assert stage1.method.type == "meta_teacher" and stage1.method.corruption == 0.5
    assert stage1.train.datasets == ["meta"] and stage1.train.epochs == 1
    second = stage_overrides(loaded, 1, tmp_path / "prev")
    stage2 = load_recipe(loaded.file, second, check_data=False).recipe
    assert stage2.method.type == "supervised" and stage2.train.datasets == ["target"]
    assert stage2.train.init_from == str((tmp_path / "prev").resolve())
    # a stage without its own method keeps the recipe's
    plain = load_recipe(loaded.file, ["stages[1].method=null"], check_data=False)
    assert not any(s.startswith("method=") for s in stage_overrides(plain, 1, None))


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("metaft")
    recipe = write(folder)
    run = folder / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ETDECL_CACHE", str(folder / "cache"))
        proc = run_cli("train", str(recipe), "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    return run


def test_meta_stage_trains_the_meta_teacher_then_finetune_trains_supervised(staged):
    stages = json.loads((staged / "stages.json").read_text())["stages"]
    assert [(s["name"], s["status"]) for s in stages] == [("meta", "done"), ("finetune", "done")]
    meta, finetune = (staged / s["run_dir"] for s in stages)
    meta_train = [m for m in read_metrics(meta) if m["split"] == "train"]
    tune_train = [m for m in read_metrics(finetune) if m["split"] == "train"]
    assert len(meta_train) == 6 and len(tune_train) == 4  # 96 rows / 16; 32 / 16 × 2 epochs
    assert all("loss.corruption" in m and "typicality.mean" in m for m in meta_train)
    assert not any(k.startswith(("loss.corruption", "typicality")) for m in tune_train
                   for k in m)
    assert all("loss.cls" in m for m in tune_train)
    # each stage's run directory holds its own method, and the second starts from the first
    tune_recipe = load_recipe(finetune / "recipe.yaml", check_data=False).recipe
    assert tune_recipe.method.type == "supervised"
    assert tune_recipe.train.init_from == str(meta.resolve())
    assert load_recipe(meta / "recipe.yaml", check_data=False).recipe.method.type == \
        "meta_teacher"
    result = json.loads((finetune / "result.json").read_text())
    assert result["init_from"]["loaded"] > 0 and result["init_from"]["kept"] == 0
    # the meta stage trained a domain classifier beside the graph; fine-tuning has none
    assert any(k.startswith("objectives.meta_domain") for k in _weights(meta))
    assert not any(k.startswith("objectives.") for k in _weights(finetune))


def _weights(run: Path) -> list[str]:
    last = (run / "checkpoints" / "last").read_text().strip()
    return list(load_weights(run / "checkpoints" / last / "model.safetensors"))
