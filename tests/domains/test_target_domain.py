"""Source/target training (`data.target_domain`): the checkpoint is picked on the target's dev
metric, result.json and the summary report the target first, and a selection metric naming a
domain (`cls.accuracy[b]`) picks the checkpoint end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_support import TINY_RECIPE, read_metrics, run_cli, synthetic_rows, write_jsonl


def _recipe(tmp_path: Path, data_extra: str = "", train_extra: str = "",
            dev_domains: tuple[str, ...] = ("a", "b")) -> Path:
    write_jsonl(tmp_path / "train.jsonl", synthetic_rows(160, seed=1))
    dev = [dict(r, domain=dev_domains[i % len(dev_domains)])
           for i, r in enumerate(synthetic_rows(48, seed=2))]
    write_jsonl(tmp_path / "dev.jsonl", dev)
    text = TINY_RECIPE.format(epochs=1, dropout=0.0, pooling="mean")
    text = text.replace("  max_length: 16\n", "  max_length: 16\n" + data_extra)
    text = text.replace("  eval_every: 10\n", "  eval_every: 2\n" + train_extra)
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return path


def _train(recipe: Path, tmp_path: Path) -> tuple[Path, dict, list[dict]]:
    run = tmp_path / "run"
    proc = run_cli("train", str(recipe), "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    dev = [m for m in read_metrics(run) if m["split"] == "dev"]
    return run, json.loads((run / "result.json").read_text()), dev


def _first_best(dev: list[dict], key: str) -> int:
    """Step of the first evaluation with the highest value (the trainer keeps a strict max)."""
    best = max(m[key] for m in dev)
    return next(m["step"] for m in dev if m[key] == best)


@pytest.mark.parametrize(("data_extra", "train_extra", "metric"), [
    ("  domains: [a, b]\n  target_domain: b\n", "", "cls.accuracy[b]"),
    ("  target_domain: a\n", "  metric: macro_f1\n", "cls.macro_f1[a]"),
    ("  domains: [b, a]\n", "  metric: cls.accuracy[b]\n", "cls.accuracy[b]"),
])
def test_checkpoint_is_picked_on_the_domain_metric(tmp_path, data_extra, train_extra, metric):
    run, result, dev = _train(_recipe(tmp_path, data_extra, train_extra), tmp_path)
    assert result["metric"] == metric
    assert len(dev) >= 5 and all(metric in m for m in dev)
    step = _first_best(dev, metric)
    assert result["best_eval"]["step"] == step
    assert result["best_eval"][metric] == max(m[metric] for m in dev)
    state = json.loads((run / "checkpoints" / "best" / "state.json").read_text())
    assert state["best_eval"]["step"] == step
    summary = (run / "summary.md").read_text()
    assert f"best dev {metric}" in summary


def test_result_and_summary_report_the_target_first(tmp_path):
    run, result, dev = _train(
        _recipe(tmp_path, "  domains: [a, b]\n  target_domain: b\n"), tmp_path)
    keys = list(result)
    assert keys.index("target") < keys.index("last_eval")
    target = result["target"]
    assert target["domain"] == "b"
    assert target["best"]["step"] == result["best_eval"]["step"]
    for name in ("accuracy", "macro_f1"):
        assert target["best"][f"cls.{name}"] == result["best_eval"][f"cls.{name}[b]"]
        assert target["last"][f"cls.{name}"] == result["last_eval"][f"cls.{name}[b]"]
    lines = (run / "summary.md").read_text().splitlines()
    assert any("target domain" in line and "b" in line for line in lines)
    first_dev = next(line for line in lines if "last dev" in line)
    assert "[b]" in first_dev, first_dev


def test_a_target_domain_no_dev_row_has_is_located_before_training(tmp_path):
    recipe = _recipe(tmp_path, "  target_domain: b\n", dev_domains=("a",))
    run = tmp_path / "run"
    proc = run_cli("train", str(recipe), "--run-dir", str(run))
    assert proc.returncode != 0
    line = recipe.read_text().splitlines().index("  target_domain: b") + 1
    assert f"tiny.yaml:{line}:" in proc.stderr and "no dev row has the target domain 'b'" \
        in proc.stderr, proc.stderr[-2000:]
    assert not (run / "checkpoints").exists()


def test_a_finished_run_scores_domains_and_refuses_undeclared_ones(tmp_path):
    from etdecl.datafiles.readers import DataError
    from etdecl.engine.inference import evaluate_file, load_run, predict_records

    run, _, _ = _train(_recipe(tmp_path, "  domains: [b, a]\n"), tmp_path)
    loaded = load_run(run)
    scores = evaluate_file(loaded, tmp_path / "dev.jsonl")
    assert {"cls.accuracy[a]", "cls.macro_f1[b]"} <= set(scores)
    rows = [dict(r, domain="a") for r in synthetic_rows(4, seed=5)]
    rows[2]["domain"] = "c"
    with pytest.raises(DataError) as err:
        predict_records(loaded, rows, source="request")
    assert err.value.line == 3 and "domain 'c'" in str(err.value)
