"""MetaDTL (`method: meta_dtl`) on a tiny random BERT with two tasks of different label sets
(sentiment: 2 classes, topic: 3): per (task, class) prototypes, typicality-weighted task losses,
the task-corruption loss computed and logged, and a resumed run that continues exactly as the
uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from meta_support import sentiment_rows, topic_rows, write_recipe
from training_support import read_metrics, run_cli

from etdecl.engine.methods import METHODS, MethodContext
from etdecl.engine.methods.meta_dtl import MetaDTL
from etdecl.recipe.schema_teachers import MetaDTLMethod


def _compiled(folder: Path):
    from etdecl.compile.graph import compile_recipe
    from etdecl.recipe.validate import load_recipe

    loaded = load_recipe(write_recipe(folder))
    return loaded, compile_recipe(loaded)


def _method(loaded, compiled) -> MetaDTL:
    ctx = MethodContext(compiled.tasks, {0: ["cls"], 1: ["topic"]}, {"cls": 1.0, "topic": 1.0},
                        recipe=loaded.recipe, graph=compiled.model)
    method = METHODS["meta_dtl"](loaded.recipe.method, ctx)
    for name, module in method.extra_modules().items():
        compiled.model.objectives[name] = module
    return method


def _batch(compiled, rows: list[dict], head: str, labels: list[str], dataset: int) -> dict:
    enc = compiled.tokenizer([r["text"] for r in rows], padding=True, truncation=True,
                             max_length=16, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
            "token_type_ids": enc["token_type_ids"],
            f"{head}.label": torch.tensor([labels.index(r["label"]) for r in rows]),
            "dataset": torch.full((len(rows),), dataset)}


def test_meta_dtl_registered_with_its_recipe_class(tmp_path):
    loaded, compiled = _compiled(tmp_path)
    assert isinstance(loaded.recipe.method, MetaDTLMethod)
    method = _method(loaded, compiled)
    assert isinstance(method, MetaDTL)
    assert method.offsets == {"cls": 0, "topic": 2}
    assert method.task_of_class.tolist() == [0, 0, 1, 1, 1]
    assert "meta_task" in compiled.model.objectives


def test_task_corruption_is_computed_logged_and_trains_the_task_classifier(tmp_path):
    loaded, compiled = _compiled(tmp_path)
    method = _method(loaded, compiled)
    model = compiled.model
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    senti, topic = sentiment_rows(64, 5), topic_rows(48, 6)
    batches = [_batch(compiled, senti[i:i + 16], "cls", ["neg", "pos"], 0)
               for i in range(0, 64, 16)]
    batches += [_batch(compiled, topic[i:i + 16], "topic", ["music", "sport", "food"], 1)
                for i in range(0, 48, 16)]
    before = model.objectives["meta_task"].weight.detach().clone()
    seen: list[dict] = []
    model.train()
    for step in range(14):
        batch = batches[step % len(batches)]
        parts = method.loss(model(**batch), batch)
        opt.zero_grad()
        parts.total.backward()
        opt.step()
        seen.append({k: float(v) for k, v in parts.parts.items()})
    assert all(p["loss.corruption"] > 0 for p in seen)
    assert all("loss.cls" in p or "loss.topic" in p for p in seen)
    # the second task's rows are weighted once both tasks have prototypes
    assert all(-1 <= p["typicality.min"] <= p["typicality.mean"] <= 1 for p in seen)
    assert not torch.equal(before, model.objectives["meta_task"].weight)
    # shuffled task ids: balanced over the tasks, whichever task the batch holds
    ids = method.shuffled_tasks(16)
    assert sorted(ids.tolist()) == [0] * 8 + [1] * 8
    # the classifier reads no task: its loss sits near log(2) (chance for two tasks)
    assert abs(sum(p["loss.corruption"] for p in seen[-4:]) / 4 - 0.693) < 0.25
    # evaluation never sees the hook's outputs
    model.eval()
    with torch.no_grad():
        assert not any(k.startswith("meta_dtl.") for k in model(**batches[0]))


def test_prototypes_are_per_task_and_class(tmp_path):
    loaded, compiled = _compiled(tmp_path)
    method = _method(loaded, compiled)
    compiled.model.train()
    senti = _batch(compiled, sentiment_rows(16, 7), "cls", ["neg", "pos"], 0)
    topic = _batch(compiled, topic_rows(16, 8), "topic", ["music", "sport", "food"], 1)
    method.loss(compiled.model(**senti), senti)
    first = method.protos.current.counts[:, 0].tolist()
    assert sum(first[:2]) == 16 and sum(first[2:]) == 0
    method.loss(compiled.model(**topic), topic)
    counts = method.protos.current.counts[:, 0]
    assert counts[2:].sum().item() == 16
    assert counts.tolist()[2:] == [float(sum(1 for x in topic["topic.label"] if x == k))
                                   for k in range(3)]


def test_meta_dtl_needs_two_classify_heads(tmp_path):
    loaded, compiled = _compiled(tmp_path)
    tasks = {"cls": compiled.tasks["cls"]}
    ctx = MethodContext(tasks, {0: ["cls"]}, {"cls": 1.0}, recipe=loaded.recipe)
    with pytest.raises(ValueError, match="across tasks"):
        MetaDTL(loaded.recipe.method, ctx)


def _final_state(run: Path) -> dict:
    step = (run / "checkpoints" / "last").read_text().strip()
    return json.loads((run / "checkpoints" / step / "state.json").read_text())["method"]


def test_meta_dtl_trains_and_resumes_like_the_uninterrupted_run(tmp_path):
    recipe = write_recipe(tmp_path, epochs=2)
    proc = run_cli("validate", str(recipe))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    proc = run_cli("train", str(recipe), "--run-dir", str(whole))
    assert proc.returncode == 0, proc.stderr[-3000:]
    train = [m for m in read_metrics(whole) if m["split"] == "train"]
    assert len(train) == 20  # (96 + 64) / 16 per epoch, 2 epochs
    assert all("loss.corruption" in m and "typicality.mean" in m for m in train)
    assert {k for m in train for k in m if k.startswith("loss.")} >= {"loss.cls", "loss.topic"}
    # stopped in the second epoch: its checkpoint holds the first epoch's prototypes
    first = run_cli("train", str(recipe), "--run-dir", str(parts), "--stop-after", "13")
    assert first.returncode == 0, first.stderr[-3000:]
    last = (parts / "checkpoints" / "last").read_text().strip()
    saved = json.loads((parts / "checkpoints" / last / "state.json").read_text())["method"]
    assert saved["prototypes"]["fixed"] is not None and saved["calls"] == 13
    second = run_cli("train", str(recipe), "--run-dir", str(parts), "--resume")
    assert second.returncode == 0, second.stderr[-3000:]
    assert _final_state(whole) == _final_state(parts)
    resumed = [m for m in read_metrics(parts) if m["split"] == "train"]
    for key in ("typicality.mean", "loss.corruption"):
        assert [m[key] for m in resumed] == pytest.approx([m[key] for m in train], rel=1e-4)
    # the finished run evaluates without the task classifier
    from etdecl.engine.inference import load_model

    run = load_model(whole)
    assert not list(run.compiled.model.objectives.parameters())
