"""A bundle stands in for its run: every task type evaluates and predicts the same from it,
without the run directory, the pretrained model packages or the training code path; a damaged,
incomplete or newer bundle is refused with the reason."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from export_support import KINDS, same_predictions
from training_support import ROOT, run_cli

ALL_KINDS = [*KINDS, "two-datasets"]


def dev_of(run: Path, kind: str) -> tuple[Path, str | None]:
    if kind == "two-datasets":
        return run / "ner-dev.jsonl", "ner"
    return run / "dev.jsonl", None


def close(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or abs(a[k] - b[k]) <= 1e-5 * max(1, abs(a[k]))
        for k in a)


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_bundle_evaluates_and_predicts_as_its_run(runs, kind, tmp_path):
    from etdecl.engine.inference import evaluate_file, load_model, predict_records
    from etdecl.export.bundle import write_bundle

    run_dir = runs(kind)
    run = load_model(run_dir)
    bundle = load_model(write_bundle(run, tmp_path / "bundle"))
    assert bundle.manifest is not None and bundle.manifest["recipe"]["name"] == f"export-{kind}"
    dev, dataset = dev_of(run_dir, kind)
    assert close(evaluate_file(run, dev, dataset), evaluate_file(bundle, dev, dataset))
    rows = rows_of(dev)
    # the same weights and kernels: the same predictions to the last digit
    assert predict_records(run, rows, dataset) == predict_records(bundle, rows, dataset)


def test_bundle_needs_neither_the_run_nor_the_model_packages(runs, tmp_path, monkeypatch):
    """Moved away from its run, with every model alias unknown: it still loads and predicts."""
    from etdecl.engine.inference import load_model, predict_records
    from etdecl.export.bundle import write_bundle
    from etdecl.recipe import aliases

    run_dir = runs("classify")
    expected = predict_records(load_model(run_dir), rows_of(run_dir / "dev.jsonl"))
    made = write_bundle(load_model(run_dir), tmp_path / "made")
    moved = shutil.move(str(made), str(tmp_path / "elsewhere" / "bundle"))
    monkeypatch.setattr(aliases, "MODEL_ALIASES", {})
    bundle = load_model(Path(moved))
    assert same_predictions(predict_records(bundle, rows_of(run_dir / "dev.jsonl")), expected)


def test_bundle_loads_without_the_training_code_path(runs, tmp_path):
    from etdecl.engine.inference import load_model
    from etdecl.export.bundle import write_bundle

    bundle = write_bundle(load_model(runs("tag")), tmp_path / "bundle")
    code = ("import sys, json; from pathlib import Path\n"
            "from etdecl.engine.inference import load_model, predict_records\n"
            f"run = load_model(Path({str(bundle)!r}))\n"
            "out = predict_records(run, [{'tokens': ['alice', 'went', 'home']}])\n"
            "print(json.dumps([out[0]['ner']['tokens'],\n"
            "  sorted(m for m in sys.modules if m.startswith(('colossalai', 'etdecl.engine.')))]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    tokens, modules = json.loads(proc.stdout.strip().splitlines()[-1])
    assert tokens == ["alice", "went", "home"]
    assert not [m for m in modules if m.startswith("colossalai")], modules
    assert not {"etdecl.engine.trainer", "etdecl.engine.plugins", "etdecl.engine.launch"} \
        & set(modules), modules


def test_bundle_manifest_describes_what_is_inside(runs, tmp_path):
    from etdecl.engine.inference import load_model
    from etdecl.export.bundle import sha256, write_bundle

    bundle = write_bundle(load_model(runs("two-datasets")), tmp_path / "bundle")
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["format"] == "etdecl-bundle" and manifest["format_version"] == 1
    assert manifest["datasets"] == {
        "sent": {"heads": ["sentiment"], "fields": {"text": "text"}},
        "ner": {"heads": ["entities"], "fields": {"tokens": "tokens"}}}
    assert manifest["heads"]["sentiment"]["labels"] == ["neg", "pos"]
    assert manifest["heads"]["entities"]["type"] == "tag"
    assert manifest["source"]["checkpoint"] == "best" and manifest["source"]["step"] == 1
    fingerprint = (runs("two-datasets") / "recipe.yaml").read_text().split("fingerprint:")
    assert len(fingerprint) == 1 or manifest["recipe"]["fingerprint"] in fingerprint[1]
    files = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert files - {"manifest.json"} == set(manifest["files"])
    assert {"model.safetensors", "recipe.yaml", "encoders/enc/config.json",
            "tokenizers/enc/tokenizer.json"} <= files
    assert all(sha256(bundle / f) == h for f, h in manifest["files"].items())


@pytest.mark.parametrize("damage", ["byte", "missing", "newer", "not-a-bundle"])
def test_bad_bundles_are_refused_with_the_reason(runs, tmp_path, damage):
    from etdecl.engine.inference import RunError, load_model
    from etdecl.export.bundle import write_bundle

    bundle = write_bundle(load_model(runs("classify")), tmp_path / "bundle")
    manifest = json.loads((bundle / "manifest.json").read_text())
    if damage == "byte":
        data = bytearray((bundle / "model.safetensors").read_bytes())
        data[-1] ^= 0xFF
        (bundle / "model.safetensors").write_bytes(bytes(data))
        expected = "damaged: model.safetensors differs"
    elif damage == "missing":
        (bundle / "tokenizers" / "enc" / "tokenizer.json").unlink()
        expected = "incomplete: tokenizers/enc/tokenizer.json is missing"
    elif damage == "newer":
        manifest["format_version"] = 99
        (bundle / "manifest.json").write_text(json.dumps(manifest))
        expected = "format version 99; this etdecl"
    else:
        (bundle / "manifest.json").write_text("{}")
        expected = "is not an etdecl bundle"
    with pytest.raises(RunError, match=expected):
        load_model(bundle)


def test_export_command_writes_replaces_and_refuses(runs, tmp_path):
    run_dir = runs("span")
    out = tmp_path / "bundle"
    proc = run_cli("export", str(run_dir), "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "etdecl evaluate / predict / serve" in proc.stdout
    again = run_cli("export", str(run_dir), "--output", str(out))
    assert again.returncode == 1 and "already exists" in again.stderr and "--force" in again.stderr
    forced = run_cli("export", str(run_dir), "--output", str(out), "--force",
                     "--checkpoint", "last")
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert json.loads((out / "manifest.json").read_text())["source"]["checkpoint"] \
        == "step-0000001-test"
    assert not list(tmp_path.glob(".bundle*")), "temporary folders left behind"
    # evaluate and predict take the bundle like a run directory
    pred = tmp_path / "pred.jsonl"
    proc = run_cli("predict", str(out), "--input", str(run_dir / "dev.jsonl"),
                   "--output", str(pred))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [r["line"] for r in rows_of(pred)] == list(range(1, 25))
    assert {"answer", "start", "end", "score"} <= set(rows_of(pred)[0]["qa"])
    proc = run_cli("evaluate", str(out), "--data", str(run_dir / "dev.jsonl"))
    assert proc.returncode == 0 and "qa.f1" in proc.stdout, proc.stderr[-2000:]
    wrong = run_cli("evaluate", str(out), "--data", str(run_dir / "dev.jsonl"),
                    "--checkpoint", "last")
    assert wrong.returncode == 1 and "is a bundle" in wrong.stderr


@pytest.mark.parametrize("args,expected", [
    (["--format", "zip"], "--format must be one of bundle, hf, onnx"),
    (["--backend-typo"], "No such option"),
])
def test_export_command_names_bad_options(runs, tmp_path, args, expected):
    proc = run_cli("export", str(runs("classify")), "--output", str(tmp_path / "x"), *args)
    assert proc.returncode != 0 and expected in proc.stderr + proc.stdout
    assert not (tmp_path / "x").exists()
