"""Every task type trains from a recipe on a tiny random model (its loss falls), multi-task
recipes report per-head metrics, and a finished run evaluates and predicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from task_rows import pair_rows, span_rows, tag_rows
from training_support import TINY_ENCODER, read_metrics, run_cli, synthetic_rows, write_jsonl

TRAIN = """\
train: {epochs: %d, batch_size: 16, lr: 3.0e-3, warmup: 0.1, log_every: 1, seed: 3%s}
"""


def _recipe(tmp_path: Path, body: str, epochs: int = 2, train_extra: str = "") -> Path:
    path = tmp_path / "r.yaml"
    path.write_text("etdecl: 1\nname: t\n" + body + TRAIN % (epochs, train_extra))
    return path


def _train(path: Path, tmp_path: Path) -> tuple[Path, list[dict]]:
    run = tmp_path / "run"
    proc = run_cli("train", str(path), "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run, read_metrics(run)


def _falls(metrics: list[dict], key: str = "loss") -> None:
    losses = [m[key] for m in metrics if m["split"] == "train" and key in m]
    assert len(losses) >= 8, losses
    assert sum(losses[-4:]) / 4 < 0.6 * sum(losses[:4]) / 4, losses


def test_tag_recipe_with_crf_learns_entities(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", tag_rows(240, 1))
    write_jsonl(tmp_path / "dev.jsonl", tag_rows(48, 2))
    body = ("data: {train: {path: train.jsonl}, dev: {path: dev.jsonl}, max_length: 24}\n"
            "encoders:\n" + TINY_ENCODER +
            "heads:\n  ner: {type: tag, input: enc, crf: true, dropout: 0.0,\n"
            "        labels: [O, B-person, I-person, B-location, I-location]}\n")
    run, metrics = _train(_recipe(tmp_path, body, epochs=4), tmp_path)
    _falls(metrics)
    dev = [m for m in metrics if m["split"] == "dev"][-1]
    assert dev["ner.f1"] > 0.8, dev
    assert {"ner.precision", "ner.recall", "ner.f1[person]"} <= set(dev)


def test_span_recipe_learns_answers(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", span_rows(240, 1))
    write_jsonl(tmp_path / "dev.jsonl", span_rows(48, 2))
    body = ("data: {train: {path: train.jsonl}, dev: {path: dev.jsonl}, max_length: 32}\n"
            "encoders:\n" + TINY_ENCODER +
            "heads:\n  qa: {type: span, input: enc, doc_stride: 8, max_answer_length: 4,"
            " dropout: 0.0}\n")
    run, metrics = _train(_recipe(tmp_path, body, epochs=4), tmp_path)
    _falls(metrics)
    dev = [m for m in metrics if m["split"] == "dev"][-1]
    assert dev["qa.exact_match"] > 50.0 and dev["qa.f1"] >= dev["qa.exact_match"], dev


@pytest.mark.parametrize("mode", ["cross", "siamese"])
def test_match_recipe_learns_pairs(tmp_path, mode):
    write_jsonl(tmp_path / "train.jsonl", pair_rows(320, 1))
    write_jsonl(tmp_path / "dev.jsonl", pair_rows(64, 2))
    body = ("data: {train: {path: train.jsonl}, dev: {path: dev.jsonl}, max_length: 24,\n"
            "       fields: {text: text_a, text_pair: text_b}}\n"
            "encoders:\n" + TINY_ENCODER +
            f"heads:\n  nli: {{type: match, input: enc, mode: {mode}, dropout: 0.0,\n"
            "        labels: [contradiction, entailment]}\n")
    run, metrics = _train(_recipe(tmp_path, body, epochs=3), tmp_path)
    _falls(metrics)
    dev = [m for m in metrics if m["split"] == "dev"][-1]
    assert dev["nli.accuracy"] > 0.8, dev


@pytest.mark.parametrize("kind", ["textcnn", "bilstm"])
def test_small_encoders_train_from_a_recipe(tmp_path, kind):
    write_jsonl(tmp_path / "train.jsonl", synthetic_rows(320, 1))
    write_jsonl(tmp_path / "dev.jsonl", synthetic_rows(64, 2))
    body = ("data: {train: {path: train.jsonl}, dev: {path: dev.jsonl}, max_length: 16}\n"
            f"encoders:\n  small: {{type: {kind}, tokenizer: minilm-l6, embedding_dim: 32,"
            " dropout: 0.0}\n"
            "heads:\n  cls: {type: classify, input: small, labels: [neg, pos], dropout: 0.0}\n")
    run, metrics = _train(_recipe(tmp_path, body, epochs=2), tmp_path)
    _falls(metrics)
    dev = [m for m in metrics if m["split"] == "dev"][-1]
    assert dev["cls.accuracy"] > 0.85, dev


def test_multi_task_recipe_reports_every_head(tmp_path):
    """Sentiment and tagging in one recipe: one shared encoder, two datasets, two heads; each
    head's loss is logged by name and evaluated on its own dev data."""
    for name, rows in (("sent", synthetic_rows), ("ner", tag_rows)):
        write_jsonl(tmp_path / f"{name}-train.jsonl", rows(240, 1))
        write_jsonl(tmp_path / f"{name}-dev.jsonl", rows(48, 2))
    body = ("data:\n  max_length: 24\n  sets:\n"
            "    sent: {train: {path: sent-train.jsonl}, dev: {path: sent-dev.jsonl}}\n"
            "    ner: {train: {path: ner-train.jsonl}, dev: {path: ner-dev.jsonl}}\n"
            "encoders:\n" + TINY_ENCODER +
            "heads:\n"
            "  sentiment: {type: classify, input: enc, data: sent, labels: [neg, pos]}\n"
            "  entities: {type: tag, input: enc, data: ner,\n"
            "             labels: [O, B-person, I-person, B-location, I-location]}\n")
    path = _recipe(tmp_path, body, epochs=3,
                   train_extra=", metric: entities.f1, mixing: round_robin")
    run, metrics = _train(path, tmp_path)
    train = [m for m in metrics if m["split"] == "train"]
    assert any("loss.sentiment" in m for m in train) and any("loss.entities" in m for m in train)
    _falls(metrics, "loss.sentiment")
    _falls(metrics, "loss.entities")
    dev = [m for m in metrics if m["split"] == "dev"][-1]
    assert dev["sentiment.accuracy"] > 0.8 and dev["entities.f1"] > 0.5, dev
    result = json.loads((run / "result.json").read_text())
    assert result["metric"] == "entities.f1"


def test_evaluate_and_predict_a_finished_run(tiny_recipe, tmp_path):
    recipe = tiny_recipe(epochs=1, dropout=0.0)
    run = tmp_path / "run"
    assert run_cli("train", str(recipe), "--run-dir", str(run)).returncode == 0
    last = json.loads((run / "result.json").read_text())["last_eval"]
    proc = run_cli("evaluate", str(run), "--data", str(tmp_path / "dev.jsonl"), "--name",
                   "held-out", "--checkpoint", "last")
    assert proc.returncode == 0, proc.stderr
    record = json.loads((run / "evaluations" / "held-out.json").read_text())
    assert record["metrics"]["cls.accuracy"] == pytest.approx(last["cls.accuracy"])
    assert "cls.accuracy" in proc.stdout
    # predictions need no labels; they are user-facing and in input order
    rows = [json.loads(x) for x in (tmp_path / "dev.jsonl").read_text().splitlines()]
    write_jsonl(tmp_path / "unlabelled.jsonl", [{"id": r["id"], "text": r["text"]} for r in rows])
    out = tmp_path / "pred.jsonl"
    proc = run_cli("predict", str(run), "--input", str(tmp_path / "unlabelled.jsonl"),
                   "--output", str(out), "--checkpoint", "last", "--chunk", "10")
    assert proc.returncode == 0, proc.stderr
    preds = [json.loads(x) for x in out.read_text().splitlines()]
    assert [p["id"] for p in preds] == [r["id"] for r in rows]
    assert all(set(p["cls"]["probabilities"]) == {"neg", "pos"} for p in preds)
    right = sum(p["cls"]["label"] == r["label"] for p, r in zip(preds, rows, strict=True))
    assert right / len(rows) == pytest.approx(last["cls.accuracy"])


def test_evaluate_names_what_is_wrong(tmp_path):
    proc = run_cli("evaluate", str(tmp_path), "--data", "x.jsonl")
    assert proc.returncode == 1
    assert "is neither a run directory (no recipe.yaml) nor a bundle" in proc.stderr
    assert "Traceback" not in proc.stderr
