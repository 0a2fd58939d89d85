"""Towers under every task type: classify, cross and siamese match, tag (± CRF) and span
heads read a shared-private tower (token states concatenated, rows routed by domain), train a
step, and export as a bundle that predicts as the run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))

from export_support import KINDS, TRAIN, same_predictions  # noqa: E402
from training_support import write_jsonl  # noqa: E402

TASK_KINDS = ["classify", "match-cross", "match-siamese", "tag", "tag-crf", "span"]
TOWERS = ("towers:\n  s: {type: shared, input: enc}\n"
          "  p: {type: private, input: enc, copy: top, top_layers: 1}\n"
          "  ss: {type: shared_private, shared: s, private: p}\n"
          "  d: {type: drss, shared: ss, width: 4}\n")


def _recipe(kind: str) -> str:
    body, _ = KINDS[kind]
    if "text_pair: text_b}" in body:
        body = body.replace("text_pair: text_b}", "text_pair: text_b, domain: domain}")
    else:
        body = body.replace("max_length:", "fields: {domain: domain}, max_length:", 1)
    body = body.replace("max_length:", "domains: [a, b], max_length:", 1)
    graph, heads = body.split("heads:\n")
    body = graph + TOWERS + "heads:\n" + heads.replace("input: enc,", "input: d,")
    return f"etdecl: 1\nname: towers-{kind}\n" + body + TRAIN


def _make_run(root: Path, kind: str) -> tuple[Path, list[dict]]:
    from safetensors.torch import save_model

    from etdecl.compile.graph import compile_recipe
    from etdecl.recipe.validate import load_recipe

    _, rows_of = KINDS[kind]
    run = root / "run"
    run.mkdir()
    for split, seed in (("train", 1), ("dev", 2)):
        rows = [dict(r, domain="ab"[i % 2]) for i, r in enumerate(rows_of(24, seed))]
        write_jsonl(run / f"{split}.jsonl", rows)
    (run / "recipe.yaml").write_text(_recipe(kind))
    loaded = load_recipe(run / "recipe.yaml")
    compiled = compile_recipe(loaded)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in [*compiled.model.heads.parameters(), *compiled.model.towers.parameters()]:
            p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    for folder in (run / "checkpoints" / "step-0000001-test", run / "checkpoints" / "best"):
        folder.mkdir(parents=True)
        save_model(compiled.model, str(folder / "model.safetensors"))
        (folder / "state.json").write_text(json.dumps({"step": 1}))
    (run / "checkpoints" / "last").write_text("step-0000001-test\n")
    return run, [json.loads(x) for x in (run / "dev.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("kind", TASK_KINDS)
def test_towers_serve_every_task_type(kind, tmp_path):
    from etdecl.engine.inference import load_model, predict_records
    from etdecl.engine.run_data import prepare
    from etdecl.export.bundle import write_bundle

    run_dir, rows = _make_run(tmp_path, kind)
    run = load_model(run_dir)
    # a training step: task loss and DRSS regulariser, every parameter reached by the loss
    data = prepare(run.loaded, run.compiled, True)
    batch = data.train[0].batch(list(range(8)))
    assert set(batch["domain"].tolist()) == {0, 1}
    model = run.compiled.model.train()
    out = model(**batch)
    head = next(iter(run.compiled.tasks))
    loss = out[f"{head}.loss"].mean() + out["aux.d.relations"]
    loss.backward()
    layer = run.compiled.model.towers["p"].parts[1][0]  # domain b's copied top layer
    assert layer.attention.self.query.weight.grad.abs().sum() > 0
    model.eval()
    bundle = load_model(write_bundle(run, tmp_path / "bundle"))
    assert same_predictions(predict_records(run, rows), predict_records(bundle, rows))
