"""The Table 8 script's overrides turn every method's gallery recipe into the protocol's
recipe for any target domain: valid, with the right rows, datasets per head and metric."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from etdecl.recipe.resolve import load_tree
from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "feature_tl", ROOT / "scripts" / "experiments" / "feature_tl.py")
assert _spec and _spec.loader
feature_tl = importlib.util.module_from_spec(_spec)
sys.modules["feature_tl"] = feature_tl  # dataclasses look their module up
_spec.loader.exec_module(feature_tl)

PRESENT = [m for m, spec in feature_tl.METHODS.items()
           if (ROOT / "recipes" / f"{spec.recipe}.yaml").is_file()]
BASELINES = ["Tgt-Only", "Src-Only", "Mixed", "Fine-Tune"]


def test_the_baselines_are_in_the_gallery():
    assert set(BASELINES) <= set(PRESENT)


@pytest.mark.parametrize("target", feature_tl.DOMAINS)
@pytest.mark.parametrize("name", PRESENT)
def test_overrides_give_the_protocol_recipe(name, target, tmp_path):
    method = feature_tl.METHODS[name]
    path = ROOT / "recipes" / f"{method.recipe}.yaml"
    budget = feature_tl.Budget()
    sets = feature_tl.overrides(load_tree(path).data, method, target, 7, budget, tmp_path, 160)
    recipe = load_recipe(path, sets, check_data=False).recipe
    assert list(recipe.data.sets) == list(method.sets)
    sources = [d for d in feature_tl.DOMAINS if d != target]
    for name_, ds in recipe.data.sets.items():
        assert ds.where == {"domain": [target] if name_ == "target" else sources}
        assert ds.fields.domain == "domain"
        assert ds.train.path == str(tmp_path / "multi_domain_sentiment" / "train.jsonl")
        assert ds.train.limit == (160 if name_ == "target" else budget.source_rows)
    assert recipe.data.train is None and recipe.data.split_seed == 7 == recipe.train.seed
    for head in recipe.heads.values():
        data = [head.data] if isinstance(head.data, str) else head.data
        assert data == list(method.sets)
    head = next(iter(recipe.heads))
    expected = f"{head}.accuracy[{target}]" if "target" in method.sets else f"{head}.accuracy"
    assert recipe.train.metric == expected
    assert recipe.data.max_length == budget.max_length
    assert recipe.parallel.precision == feature_tl.precision()
    for enc in recipe.encoders.values():
        if enc.type == "hf":
            assert enc.freeze_layers == budget.freeze_layers


def test_target_rows_are_a_share_of_the_targets_rows(tmp_path):
    rows = [f'{{"domain": "{d}", "text": "x", "label": "positive"}}'
            for d in ["books"] * 30 + ["dvd"] * 10]
    (tmp_path / "train.jsonl").write_text("\n".join(rows) + "\n")
    assert feature_tl.target_rows(tmp_path / "train.jsonl", "books", 0.1) == 3
    assert feature_tl.target_rows(tmp_path / "train.jsonl", "dvd", 0.1) == 1


def test_orderings_say_when_a_transfer_method_is_not_above_tgt_only():
    records = [{"method": m, "target": "books", "seed": s, "accuracy": a, "macro_f1": a}
               for m, accs in {"Tgt-Only": [0.70, 0.72], "Mixed": [0.80, 0.82],
                               "Src-Only": [0.69, 0.70], "SS": [0.70, 0.71],
                               "DRSS": [0.85, 0.83]}.items()
               for s, a in enumerate(accs)]
    table = feature_tl.summarise(records)
    assert table[("Mixed", "books")]["accuracy"][0] == pytest.approx(0.81)
    assert table[("Mixed", "books")]["accuracy"][1] == pytest.approx(0.0141421, abs=1e-6)
    methods = ["Tgt-Only", "Src-Only", "Mixed", "SS", "DRSS"]
    lines = feature_tl.orderings(table, methods, ["books"])
    assert "no (SS not above)" in lines[0]  # baselines (Src-Only) are not judged
    assert lines[1].endswith("of all methods yes (best: DRSS), of the feature-based ones yes "
                             "(best: DRSS)")
    assert lines[2].startswith("- mean over targets: every feature-based")
