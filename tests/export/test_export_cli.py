"""`etdecl export --format hf|onnx` and `--backend onnx` from the command line: what each format
writes, what loads it, and the errors that say what to do instead."""

from __future__ import annotations

import json
from pathlib import Path

from export_support import same_predictions
from training_support import run_cli


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_onnx_format_is_a_bundle_that_predicts_through_onnx_runtime(runs, tmp_path):
    run_dir = runs("two-datasets")
    out = tmp_path / "onnx-bundle"
    proc = run_cli("export", str(run_dir), "--format", "onnx", "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["onnx"] == {"sent": "onnx/sent.onnx", "ner": "onnx/ner.onnx"}
    assert {"onnx/sent.onnx", "onnx/ner.onnx", "model.safetensors"} <= set(manifest["files"])
    preds = {}
    for backend in ("torch", "onnx"):
        preds[backend] = tmp_path / f"{backend}.jsonl"
        proc = run_cli("predict", str(out), "--input", str(run_dir / "ner-dev.jsonl"),
                       "--output", str(preds[backend]), "--dataset", "ner", "--backend", backend)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert same_predictions(rows_of(preds["torch"]), rows_of(preds["onnx"]), 1e-4)
    proc = run_cli("evaluate", str(out), "--data", str(run_dir / "sent-dev.jsonl"),
                   "--dataset", "sent", "--backend", "onnx", "--name", "ort")
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads((out / "evaluations" / "ort.json").read_text())
    assert record["backend"] == "onnx" and "sentiment.accuracy" in record["metrics"]


def test_onnx_backend_needs_an_onnx_export(runs, tmp_path):
    run_dir = runs("classify")
    for model in (run_dir, tmp_path / "bundle"):
        if model != run_dir:
            assert run_cli("export", str(run_dir), "--output", str(model)).returncode == 0
        proc = run_cli("predict", str(model), "--input", str(run_dir / "dev.jsonl"),
                       "--output", str(tmp_path / "p.jsonl"), "--backend", "onnx")
        assert proc.returncode == 1
        assert "no ONNX graph for dataset 'main'" in proc.stderr and "--format onnx" in proc.stderr
    proc = run_cli("predict", str(run_dir), "--input", str(run_dir / "dev.jsonl"),
                   "--output", str(tmp_path / "p.jsonl"), "--backend", "tensorrt")
    assert proc.returncode == 1 and "--backend must be 'torch' or 'onnx'" in proc.stderr


def test_hf_format_loads_with_transformers_and_refusals_name_the_line(runs, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path / "hf"
    proc = run_cli("export", str(runs("classify-pooler")), "--format", "hf", "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    model = AutoModelForSequenceClassification.from_pretrained(str(out))
    assert model.config.id2label == {0: "neg", 1: "pos"}
    # truncation=True in a pipeline stops where the run's data.max_length did
    assert AutoTokenizer.from_pretrained(str(out)).model_max_length == 16
    assert run_cli("export", str(runs("classify-pooler")), "--format", "hf",
                   "--output", str(out)).returncode == 1  # exists
    proc = run_cli("export", str(runs("classify-pooler")), "--format", "hf",
                   "--output", str(out), "--force")
    assert proc.returncode == 0, proc.stderr[-2000:]
    refused = run_cli("export", str(runs("tag-crf")), "--format", "hf",
                      "--output", str(tmp_path / "crf"))
    assert refused.returncode == 1
    first = refused.stderr.strip().splitlines()[0]
    assert "recipe.yaml:" in first and ": error: heads.ner.crf:" in first, refused.stderr
    assert not first.startswith("error:")  # located, not a bare message
    assert not (tmp_path / "crf").exists()


def test_precision_follows_the_recipe_or_the_flag(runs, tmp_path):
    import shutil

    import torch

    from etdecl.engine.inference import inference_precision, load_model, torch_forward

    run_dir = runs("classify")
    bf16_dir = tmp_path / "bf16-run"
    shutil.copytree(run_dir, bf16_dir)
    with open(bf16_dir / "recipe.yaml", "a") as fh:
        fh.write("parallel: {precision: bf16}\n")
    fp32, bf16 = load_model(run_dir), load_model(bf16_dir)
    assert inference_precision(fp32) == "fp32" and inference_precision(bf16) == "bf16"
    assert inference_precision(bf16, "fp32") == "fp32"
    batch = {"input_ids": torch.tensor([[101, 2307, 3185, 102]]),
             "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    assert torch_forward(bf16, "recipe")(batch)["cls.logits"].dtype == torch.bfloat16
    assert torch_forward(bf16, "fp32")(batch)["cls.logits"].dtype == torch.float32

    dev = str(run_dir / "dev.jsonl")
    for flags, used in ((["--name", "a"], "bf16"), (["--name", "b", "--precision", "fp32"],
                                                    "fp32")):
        proc = run_cli("evaluate", str(bf16_dir), "--data", dev, *flags)
        assert proc.returncode == 0, proc.stderr[-2000:]
        record = json.loads((bf16_dir / "evaluations" / f"{flags[1]}.json").read_text())
        assert record["precision"] == used
    a, b = (json.loads((bf16_dir / "evaluations" / f"{n}.json").read_text())["metrics"]
            for n in "ab")
    assert abs(a["cls.accuracy"] - b["cls.accuracy"]) <= 2 / 24  # bf16 rounds, barely moves
    proc = run_cli("predict", str(run_dir), "--input", dev, "--output", str(tmp_path / "p"),
                   "--precision", "fp8")
    assert proc.returncode == 1 and "precision must be one of recipe, fp32, bf16" in proc.stderr
