"""ONNX export of every task type: onnxruntime on real tokenised dev batches of two batch sizes
and sequence lengths matches PyTorch to 1e-4, and predictions through the ORT forward equal
PyTorch's."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from export_support import KINDS

KIND_LIST = [*KINDS, "two-datasets"]


def _dev_file(run_dir, dataset: str):
    return run_dir / ("dev.jsonl" if (run_dir / "dev.jsonl").is_file() else f"{dataset}-dev.jsonl")


def _rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _features(run, dataset: str, rows: list[dict]):
    """Rows tokenised as evaluate does (with targets, so losses compare too)."""
    from etdecl.data.examples import row_example
    from etdecl.datafiles.readers import Row
    from etdecl.engine.inference import pick_dataset
    from etdecl.engine.run_data import dataset_features

    view = pick_dataset(run, dataset)
    tasks = [run.compiled.tasks[h] for h in run.compiled.dataset_heads[view.name]]
    examples = [row_example(Row(r, "dev", i + 1), view, tasks, i, True)
                for i, r in enumerate(rows)]
    index = list(run.compiled.dataset_heads).index(dataset)
    return dataset_features(run.compiled, dataset, index, examples, "test:dev",
                            run.loaded.recipe.data.max_length, use_cache=False)


def _resized(rows: list[dict], scale: float) -> list[dict]:
    """Rows with their texts, questions and word lists (with their tags) cut to a fraction of
    their words, or repeated (the fixture's rows are all about one length)."""
    def resize(words: list) -> list:
        return (words * 2)[: max(1, round(len(words) * scale))]

    def field(key: str, value):
        if key.startswith(("text", "question")):
            return " ".join(resize(value.split()))
        return resize(value) if key in ("tokens", "tags") else value

    return [{k: field(k, v) for k, v in r.items()} for r in rows]


def _two_batches(run, dataset: str, rows: list[dict]):
    """Two padded batches of different sizes and widths from the dev rows at half, full and
    double length: 3 rows up to the median length, and 5 up to the longest."""
    ds = _features(run, dataset, [*_resized(rows, 0.5), *rows, *_resized(rows, 2.0)])
    order = np.argsort(ds.feats.lengths(), kind="stable")
    short = ds.batch(order[[0, 1, len(order) // 2]], True)
    long = ds.batch(order[[0, 1, 2, 3, -1]], True)
    assert short["input_ids"].shape[0] != long["input_ids"].shape[0]
    assert short["input_ids"].shape[1] != long["input_ids"].shape[1]
    for batch in (short, long):  # padding is there, so masking and packing are exercised
        assert any((batch[k] == 0).any() for k in batch if k.startswith("attention_mask"))
    return [short, long]


def _close(a, b, tol: float = 1e-4) -> bool:
    """Equal predictions: the same labels, tags and spans; scores within tol."""
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= tol
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory):
    """Factory: (loaded run, {dataset: onnx path}) of a kind, exported once per module."""
    from etdecl.engine.inference import load_run
    from etdecl.export.onnx_export import export_onnx

    made = {}

    def get(kind: str):
        if kind not in made:
            run = load_run(runs(kind))
            paths = export_onnx(run, tmp_path_factory.mktemp(f"bundle-{kind}"))
            made[kind] = (run, {p.stem: p for p in paths})
        return made[kind]

    return get


@pytest.mark.parametrize("kind", KIND_LIST)
def test_export_writes_checked_graph_per_dataset(exported, kind):
    import onnx

    from etdecl.recipe.datasets import datasets

    run, paths = exported(kind)
    assert set(paths) == set(datasets(run.loaded.recipe))
    for name, path in paths.items():
        assert path.parent.name == "onnx" and path.suffix == ".onnx"
        graph = onnx.load(str(path)).graph
        heads = run.compiled.dataset_heads[name]
        outs = [o.name for o in graph.output]
        assert {o.split(".")[0] for o in outs} == set(heads)
        for value in [*graph.input, *graph.output]:
            dims = value.type.tensor_type.shape.dim
            assert dims[0].dim_param == "batch", value.name
        for value in graph.input:
            assert value.type.tensor_type.shape.dim[1].dim_param == "sequence", value.name
        ins = {i.name for i in graph.input}
        assert {"input_ids", "attention_mask"} <= ins
        if kind == "match-siamese":
            assert {"input_ids_b", "attention_mask_b"} <= ins


@pytest.mark.parametrize("kind", KIND_LIST)
def test_onnxruntime_matches_torch_on_dev_batches(exported, runs, kind):
    from etdecl.export.onnx_runtime import onnx_forward

    run, paths = exported(kind)
    for dataset, path in paths.items():
        forward = onnx_forward(run, path)
        rows = _rows(_dev_file(runs(kind), dataset))
        for batch in _two_batches(run, dataset, rows):
            with torch.no_grad():
                want = run.compiled.model(**batch)
            got = forward(batch)
            heads = run.compiled.dataset_heads[dataset]
            keys = {k for k in want if k.split(".")[0] in heads}
            assert keys <= set(got), keys - set(got)
            assert any(k.endswith(".loss") for k in keys)
            for k in keys:
                assert got[k].shape == want[k].shape, k
                torch.testing.assert_close(got[k].float(), want[k].float(), atol=1e-4,
                                           rtol=1e-4, msg=k)


@pytest.mark.parametrize("kind", KIND_LIST)
def test_predictions_through_onnxruntime_equal_torch(exported, runs, kind):
    from etdecl.engine.inference import predict_records
    from etdecl.export.onnx_runtime import onnx_forward

    run, paths = exported(kind)
    for dataset, path in paths.items():
        rows = _rows(_dev_file(runs(kind), dataset))
        want = predict_records(run, rows, dataset, batch_size=7)
        got = predict_records(run, rows, dataset, batch_size=7,
                              forward=onnx_forward(run, path, threads=1))
        assert len(got) == len(rows)
        assert _close(got, want), (got[:2], want[:2])


def test_one_dataset_by_name(runs, tmp_path):
    from etdecl.engine.inference import RunError, load_run
    from etdecl.export.onnx_export import export_onnx

    run = load_run(runs("two-datasets"))
    assert export_onnx(run, tmp_path, dataset="ner") == [tmp_path / "onnx" / "ner.onnx"]
    with pytest.raises(RunError, match="no dataset 'nope'"):
        export_onnx(run, tmp_path, dataset="nope")


def test_onnx_forward_refuses_a_file_of_another_run(exported):
    from etdecl.engine.inference import RunError
    from etdecl.export.onnx_runtime import onnx_forward

    tag_run, _ = exported("tag")
    _, span_paths = exported("span")
    with pytest.raises(RunError, match="not exported from this run.*'qa'"):
        onnx_forward(tag_run, span_paths["main"])
    with pytest.raises(RunError, match="no ONNX file"):
        onnx_forward(tag_run, span_paths["main"].with_name("missing.onnx"))


def test_rsa_attention_is_refused_at_its_recipe_key(tmp_path, monkeypatch):
    import export_support

    from etdecl.engine.inference import load_run
    from etdecl.export.onnx_export import export_onnx
    from etdecl.recipe.errors import RecipeError

    body, rows = export_support.KINDS["classify"]
    rsa = body.replace("pooling: mean", "pooling: mean\n    attention: {type: rsa, block: 4,"
                       " local_blocks: 2, random_blocks: 1}")
    monkeypatch.setitem(export_support.KINDS, "rsa", (rsa, rows))
    run_dir = export_support.make_run(tmp_path, "rsa")
    with pytest.raises(RecipeError) as err:
        export_onnx(load_run(run_dir), tmp_path / "bundle")
    text = str(err.value)
    line = next(i for i, s in enumerate((run_dir / "recipe.yaml").read_text().splitlines(), 1)
                if "attention:" in s)
    assert f"recipe.yaml:{line}:" in text
    assert "encoder 'enc' uses rsa attention" in text and "cannot be exported to ONNX" in text
    assert not (tmp_path / "bundle" / "onnx").exists()
