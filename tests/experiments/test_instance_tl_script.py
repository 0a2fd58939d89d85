"""The Table 9 script: its overrides turn the selector recipes into the protocol's recipe for any
target domain (the recipes say books), its orderings say which of the paper's claims hold, and
`--quick` runs end to end (a tiny random BERT, synthetic reviews) into a report with the
accuracy tables, the selectors' kept shares, bayes's proxy, the orderings and the commands."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import pytest

from etdecl.recipe.resolve import load_tree
from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "instance_tl", ROOT / "scripts" / "experiments" / "instance_tl.py")
assert _spec and _spec.loader
instance_tl = importlib.util.module_from_spec(_spec)
sys.modules["instance_tl"] = instance_tl  # dataclasses look their module up
_spec.loader.exec_module(instance_tl)


@pytest.mark.parametrize("target", ["dvd", "kitchen"])
@pytest.mark.parametrize("name", list(instance_tl.METHODS))
def test_overrides_give_the_protocol_recipe(name, target, tmp_path):
    method = instance_tl.METHODS[name]
    path = ROOT / "recipes" / f"{method.recipe}.yaml"
    budget = instance_tl.Budget()
    sets = instance_tl.study.overrides(load_tree(path).data, method, target, 5, budget,
                                       tmp_path, 80)
    recipe = load_recipe(path, sets, check_data=False).recipe
    assert list(recipe.data.sets) == list(method.sets)
    if "target" in method.sets:
        assert recipe.data.sets["target"].train.limit == 80
        assert recipe.data.sets["target"].where == {"domain": [target]}
    if name not in instance_tl.SELECTORS:
        assert not recipe.selectors and recipe.train.eval_every == budget.eval_every
        return
    pick = recipe.selectors["pick"]
    assert pick.source == "source" and recipe.data.target_domain == target
    assert recipe.data.sets["source"].where == {
        "domain": [d for d in instance_tl.DOMAINS if d != target]}
    assert recipe.train.metric == f"sentiment.accuracy[{target}]"
    if name == "bayes":
        assert pick.type == "bayes" and pick.trials == budget.bayes_trials
        assert recipe.train.eval_every == budget.eval_every
    else:
        assert pick.type == {"RTL": "reinforced", "MGTL": "minimax"}[name]
        assert recipe.train.eval_every == budget.episode_every
        assert recipe.train.checkpoint_every == budget.eval_every


def test_orderings_name_what_breaks_the_papers_claims():
    accs = {"Tgt-Only": [0.70, 0.72], "Src-Only": [0.74, 0.76], "Mixed": [0.80, 0.80],
            "bayes": [0.81, 0.83], "RTL": [0.79, 0.79], "MGTL": [0.78, 0.78]}
    records = [{"method": m, "target": "books", "seed": s, "accuracy": a, "macro_f1": a}
               for m, values in accs.items() for s, a in enumerate(values)]
    table = instance_tl.summarise(records)
    lines = instance_tl.orderings(table, list(accs), ["books"])
    assert lines[0] == ("- books: every selection method ≥ Mixed (0.8000): no (RTL 0.7900, "
                        "MGTL 0.7800 below)")
    assert lines[1].endswith("Mixed > Src-Only (0.7500): yes")
    assert lines[2].endswith("Mixed > Tgt-Only (0.7100): yes")
    assert lines[3] == "- books: MGTL (0.7800) ≥ RTL (0.7900): no"
    assert lines[4] == "- books: MGTL (0.7800) ≥ bayes (0.8200): no"
    assert lines[5].startswith("- mean over targets: every selection method")
    lines = instance_tl.orderings(table, ["Mixed", "RTL", "MGTL"], ["books"])
    assert lines[0].endswith("no (RTL 0.7900, MGTL 0.7800 below)") and len(lines) == 4


TINY_ENCODER = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2,
                "num_attention_heads": 4, "intermediate_size": 64, "vocab_size": 30522,
                "max_position_embeddings": 64}
GOOD = ["great", "superb", "lovely", "wonderful", "brilliant", "charming"]
BAD = ["awful", "dull", "boring", "tedious", "clumsy", "bland"]
TOPIC = {"books": ["novel", "author", "chapter"], "dvd": ["film", "scene", "actor"],
         "electronics": ["battery", "cable", "screen"], "kitchen": ["pan", "knife", "blender"]}


def _reviews(n_per_domain: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for domain, topic in TOPIC.items():
        for i in range(n_per_domain):
            label = rng.choice(["negative", "positive"])
            words = rng.sample(topic, 2) + rng.sample(GOOD if label == "positive" else BAD, 2)
            rng.shuffle(words)
            rows.append({"id": f"{domain}-{i}", "text": " ".join(words), "label": label,
                         "domain": domain})
    return rows


def test_quick_runs_end_to_end_into_a_report(tmp_path, monkeypatch):
    monkeypatch.setenv("ETDECL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "shared" / "multi_domain_sentiment"
    folder.mkdir(parents=True)
    for name, rows in (("train", _reviews(400, 1)), ("dev", _reviews(40, 2))):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = tmp_path / "report" / "instance-tl.md"
    tiny = ["encoders.plm.model=null", "encoders.plm.tokenizer=minilm-l6",
            f"encoders.plm.config={json.dumps(TINY_ENCODER)}", "encoders.plm.freeze_layers=0",
            "data.max_length=16", "parallel.precision=fp32"]
    argv = ["--quick", "--targets", "dvd", "--methods", "Mixed", "bayes", "RTL",
            "--shared", str(tmp_path / "shared"), "--out", str(tmp_path / "runs"),
            "--report", str(report)] + [a for s in tiny for a in ("--set", s)]
    assert instance_tl.main(argv) == 0

    out = tmp_path / "runs-quick" / "dvd"
    assert sorted(p.name for p in out.iterdir()) == ["Mixed", "RTL", "bayes"]
    rtl = json.loads((out / "RTL" / "seed1" / "experiment.json").read_text())
    assert rtl["selector"] == "reinforced" and rtl["episodes"] >= 1
    assert set(rtl["keep"]) <= {"books", "electronics", "kitchen", "all"}
    assert all(0.0 <= v <= 1.0 for v in rtl["keep"].values())
    bayes = json.loads((out / "bayes" / "seed1" / "experiment.json").read_text())
    assert bayes["selector"] == "bayes" and bayes["episodes"] == 1
    assert bayes["keep"]["all"] == pytest.approx(0.5, abs=0.02)  # keep: 0.5 of the source
    assert set(bayes["proxy"]) == {"selected", "all_source", "target_only"}
    mixed = json.loads((out / "Mixed" / "seed1" / "experiment.json").read_text())
    assert "keep" not in mixed

    text = report.read_text()
    sections = [line for line in text.splitlines() if line.startswith("#")]
    assert sections == [
        "# Instance-based transfer: the paper's Table 9 protocol",
        "## Target dev accuracy (mean ± std over seeds)",
        "## Target dev macro-F1 (mean ± std over seeds)",
        "## Share of each source domain kept (mean ± std over seeds)",
        "## bayes: the proxy model's target dev accuracy (mean over seeds)",
        "## Orderings",
        "## Commands"]
    for method in ("Mixed", "bayes", "RTL"):
        assert f"\n| {method} | " in text
    keep_rows = [line for line in text.splitlines() if line.startswith(("| bayes | dvd",
                                                                        "| RTL | dvd"))]
    assert len(keep_rows) == 2
    for row in keep_rows:  # books | dvd | electronics | kitchen | all: the target is not judged
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[3] == "-" and all("%" in cells[i] for i in (2, 4, 5, 6))
    assert "- dvd: every selection method ≥ Mixed" in text
    assert "--set 'data.target_domain=dvd'" in text and "--set 'train.eval_every=2'" in text
    assert (report.parent / "instance-tl.png").stat().st_size > 0
    assert (report.parent / "instance-tl-keep.png").stat().st_size > 0
    assert (out / "RTL" / "seed1" / "selection" / "pick.jsonl").is_file()
