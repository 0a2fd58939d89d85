"""The Table 11 script (scripts/experiments/meta.py): its overrides turn the gallery recipes into
the protocol's runs (each genre's sampled pairs; the meta-learners alone, from their recipes'
first stage; fine-tuning that differs only in its starting weights), its sample is a seeded
per-genre share, its orderings say what the numbers say, and `--quick` runs end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "meta_study", ROOT / "scripts" / "experiments" / "meta.py")
assert _spec and _spec.loader
meta = importlib.util.module_from_spec(_spec)
sys.modules["meta_study"] = meta  # dataclasses look their module up
_spec.loader.exec_module(meta)

SHARED = Path(os.environ.get("ETDECL_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _fake_shared(folder: Path) -> Path:
    """A shared-data folder with a few MNLI pairs per genre."""
    mnli = folder / "mnli_genre_subset"
    mnli.mkdir(parents=True)
    rows = [{"id": f"{g}-{i}", "text_a": "a b", "text_b": "c", "label": "neutral", "domain": g}
            for g in meta.GENRES for i in range(40 + 10 * meta.GENRES.index(g))]
    (mnli / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (mnli / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:20]))
    return folder


def test_sample_takes_each_genres_share_seeded(tmp_path):
    shared = _fake_shared(tmp_path / "shared")
    path = meta.sample(shared, 0.25, 1, tmp_path / "out")
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    for k, genre in enumerate(meta.GENRES):
        assert sum(r["domain"] == genre for r in rows) == max(8, round(0.25 * (40 + 10 * k)))
    again = meta.sample(shared, 0.25, 1, tmp_path / "again")
    other = meta.sample(shared, 0.25, 2, tmp_path / "other")
    assert again.read_text() == path.read_text() != other.read_text()


@pytest.mark.parametrize("genre", meta.GENRES)
def test_finetune_overrides_train_on_the_genres_sampled_pairs(genre, tmp_path):
    data, learner = tmp_path / "sample.jsonl", tmp_path / "meta-learner"
    budget = meta.Budget()
    path = ROOT / "recipes" / "finetune-mnli.yaml"
    plain = load_recipe(path, meta.finetune_sets(data, genre, 3, budget, tmp_path, None),
                        check_data=False).recipe
    target = plain.data.sets["target"]
    assert target.train.path == str(data) and target.train.limit is None
    assert target.where == {"domain": [genre]} and target.dev.limit is None
    assert plain.train.metric == f"nli.accuracy[{genre}]" and plain.train.init_from is None
    assert plain.train.seed == 3 == plain.data.split_seed
    assert plain.train.epochs == budget.finetune_epochs
    start = meta.finetune_start(ROOT / "recipes" / "metaft-mnli.yaml")
    tuned = load_recipe(path, meta.finetune_sets(data, genre, 3, budget, tmp_path, learner,
                                                 start), check_data=False).recipe
    assert tuned.train.init_from == str(learner) and tuned.train.init_checkpoint == start
    # the only difference between the rows: where the weights start
    assert tuned.model_copy(update={"train": plain.train}) == plain


@pytest.mark.parametrize(("row", "method", "sets"), [
    (meta.METAFT, "meta_teacher", ["meta"]), (meta.METADTL, "meta_dtl", ["nli", "reviews"])])
def test_meta_overrides_train_the_first_stage_alone(row, method, sets, tmp_path):
    data = tmp_path / "sample.jsonl"
    budget = meta.Budget()
    path = ROOT / "recipes" / f"{meta.RECIPES[row]}.yaml"
    recipe = load_recipe(path, meta.meta_sets(path, data, 1, budget, tmp_path),
                         check_data=False).recipe
    assert recipe.stages == [] and recipe.method.type == method
    assert recipe.train.datasets == sets and recipe.train.epochs == budget.meta_epochs
    nli = recipe.data.sets[sets[0]]
    assert nli.train.path == str(data) and nli.train.limit is None and nli.where is None
    assert nli.dev.limit == budget.meta_dev_rows
    if "reviews" in sets:
        reviews = recipe.data.sets["reviews"]
        assert reviews.train.limit == budget.aux_rows
        assert reviews.train.path == str(tmp_path / "multi_domain_sentiment" / "train.jsonl")


def test_orderings_say_when_the_gain_is_not_largest_at_the_smallest_fraction():
    cells = {}
    for genre in ["fiction", "slate"]:
        for f, (ft, mft) in {0.05: (0.50, 0.56), 0.1: (0.55, 0.58), 0.2: (0.60, 0.59)}.items():
            cells[(meta.FT, f, genre)] = ft
            cells[(meta.METAFT, f, genre)] = mft
    lines = meta.orderings(cells, [meta.FT, meta.METAFT], [0.05, 0.1, 0.2], ["fiction", "slate"])
    assert lines[0].startswith("- MetaFT ≥ fine-tuning on the mean over genres: no (below at "
                               "20 %)")
    assert "4 of 6 (genre, fraction) cells" in lines[0]
    assert lines[1].endswith("(5 %): yes.")
    cells[(meta.METAFT, 0.1, "fiction")] = 0.75
    assert meta.orderings(cells, [meta.FT, meta.METAFT], [0.05, 0.1, 0.2],
                          ["fiction", "slate"])[1].endswith("no (largest at 10 %).")


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "mnli_genre_subset" / "train.jsonl").is_file(),
                    reason="no shared MultiNLI data")
def test_quick_runs_end_to_end(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", ETDECL_CACHE=str(tmp_path / "cache"),
               PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "experiments" / "meta.py"),
                           "--quick", "--shared", str(SHARED), "--out", str(tmp_path / "meta")],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "meta-quick"
    report = (out / "meta.md").read_text()
    assert (out / "meta.png").stat().st_size > 0
    for row in (meta.FT, meta.METAFT, meta.METADTL):
        assert f"| {row} | " in report
    assert "## Orderings" in report and "- MetaFT ≥ fine-tuning" in report
    # the fine-tuning rows started from their meta-learners
    for row in (meta.METAFT, meta.METADTL):
        result = json.loads((out / "seed1" / "0.002" / row / "fiction" / "result.json")
                            .read_text())
        assert result["init_from"]["loaded"] > 0
        learner = out / "seed1" / "0.002" / row / "meta-learner"
        key = "loss.corruption"
        assert any(key in json.loads(x) for x in (learner / "metrics.jsonl").read_text()
                   .splitlines())


def test_budget_changes_name_integer_fields_and_refuse_others() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    assert meta.budget_changes(["meta_epochs=1", "target_dev_rows=500"], parser) == {
        "meta_epochs": 1, "target_dev_rows": 500}
    for bad in ("meta_epoch=1", "meta_epochs=one", "extra=3"):
        with pytest.raises(SystemExit):
            meta.budget_changes([bad], parser)
