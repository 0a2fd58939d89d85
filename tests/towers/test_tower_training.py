"""Every tower type compiles from a recipe on a tiny BERT, trains through `etdecl train`
(its loss falls), logs each of its loss parts by name, and routes rows by domain."""

from __future__ import annotations

import pytest
import torch
from tower_recipes import AUX_PARTS, TOWERS, tower_recipe, write_tower_recipe
from training_support import TINY_ENCODER, read_metrics, run_cli

from etdecl.compile.graph import compile_recipe
from etdecl.recipe.validate import load_recipe


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


@pytest.mark.parametrize("name", list(TOWERS))
def test_tower_recipe_trains_and_logs_its_loss_parts(name, tmp_path):
    recipe = write_tower_recipe(tmp_path, name)
    run = tmp_path / "run"
    proc = run_cli("train", str(recipe), "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    train = [m for m in read_metrics(run) if m["split"] == "train"]
    assert len(train) == 20
    task = [m["loss.cls"] for m in train]
    assert _mean(task[-5:]) < 0.95 * _mean(task[:5]), task
    total = [m["loss"] for m in train]
    assert _mean(total[-5:]) < _mean(total[:5]), total
    for part in AUX_PARTS.get(name, []):
        values = [m[part] for m in train]
        assert all(v >= 0 for v in values), (part, values)
        assert any(v > 0 for v in values), (part, values)
    dev = [m for m in read_metrics(run) if m["split"] == "dev"][-1]
    assert {"cls.accuracy[a]", "cls.accuracy[b]"} <= set(dev)


def _graph(tmp_path, name, text=None):
    path = write_tower_recipe(tmp_path, name, text, n_train=32, n_dev=8)
    loaded = load_recipe(path)
    return compile_recipe(loaded)


def _batch(compiled, texts, domains):
    tok = compiled.tokenizer
    enc = tok(texts, padding=True, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
            "domain": torch.tensor(domains)}


@pytest.mark.parametrize("name", ["private-full", "private-top", "private-small-textcnn",
                                  "private-small-bilstm", "drss"])
def test_each_row_runs_through_its_own_domains_part(name, tmp_path):
    """A row's output depends on its domain, and only on it: the same text gives the same
    output alone or in a mixed batch, and different outputs under the two domains."""
    compiled = _graph(tmp_path, name)
    model = compiled.model.eval()
    tower = next(iter(model.towers.values())) if name != "drss" else model.towers["d"]
    with torch.no_grad():  # make the domains' parts differ
        for p in tower.parameters():
            p.add_(0.1 * torch.randn_like(p))
    texts = ["the film was great", "a dull and boring plot", "the film was great"]
    node = "p" if name.startswith("private") else "d"
    with torch.no_grad():
        mixed = model(**_batch(compiled, texts, [0, 1, 1]))["cls.logits"]
        alone_a = model(**_batch(compiled, texts[:1], [0]))["cls.logits"]
        alone_b = model(**_batch(compiled, texts[2:], [1]))["cls.logits"]
    assert node in model.towers
    assert torch.allclose(mixed[0], alone_a[0], atol=1e-5)
    assert torch.allclose(mixed[2], alone_b[0], atol=1e-5)
    assert not torch.allclose(mixed[0], mixed[2], atol=1e-4)


def test_rows_without_a_domain_are_refused_naming_the_tower(tmp_path):
    compiled = _graph(tmp_path, "private-top")
    batch = _batch(compiled, ["the film was great", "dull"], [0, -1])
    with pytest.raises(ValueError, match="tower 'p' routes each row by its domain.*1 row"):
        compiled.model.eval()(**batch)


def test_head_width_is_the_towers_width(tmp_path):
    compiled = _graph(tmp_path, "drss-adv")
    model = compiled.model
    assert model.node_width("s") == 32 and model.node_width("d") == 32 + 8
    assert "d.relations.omega" in {k[len("towers."):] for k in model.state_dict()
                                   if k.startswith("towers.")}
    model.train()
    out = model(**_batch(compiled, ["great", "dull film"], [0, 1]))
    assert set(k for k in out if k.startswith("aux.")) == {"aux.d.relations",
                                                          "aux.d.adversarial"}
    assert all(out[k].dim() == 0 for k in out if k.startswith("aux."))
    model.eval()
    with torch.no_grad():
        out = model(**_batch(compiled, ["great"], [1]))
    assert not any(k.startswith("aux.") for k in out)


def test_towers_over_a_tower_and_two_heads(tmp_path):
    """Heads may read an encoder and a tower; a tower may read a tower (shared → drss)."""
    text = tower_recipe("drss").replace(
        "heads:\n", "heads:\n  plain: {type: classify, input: [enc, s], labels: [neg, pos]}\n")
    text = text.replace("data:\n", "data:\n  sets:\n    one: {train: {path: train.jsonl}, "
                        "dev: {path: dev.jsonl}}\n    two: {train: {path: train.jsonl}, "
                        "dev: {path: dev.jsonl}}\n", 1)
    text = text.replace("  train: {path: train.jsonl}\n  dev: {path: dev.jsonl}\n", "")
    text = text.replace("dropout: 0.0}", "dropout: 0.0, data: one}").replace(
        "labels: [neg, pos]}\n  cls", "labels: [neg, pos], data: two}\n  cls")
    compiled = _graph(tmp_path, "two-heads", text)
    model = compiled.model.train()
    out = model(**_batch(compiled, ["great", "dull film"], [0, 1]))
    assert out["plain.logits"].shape == (2, 2) and out["cls.logits"].shape == (2, 2)


MULTI = """\
etdecl: 1
name: towers-multi
data:
  domains: [a, b]
  max_length: 16
  sets:
    reviews: {train: {path: train.jsonl}, dev: {path: dev.jsonl},
              fields: {text: text, label: label, domain: domain}}
    plain: {train: {path: plain.jsonl}, dev: {path: plain-dev.jsonl}}
encoders:
""" + TINY_ENCODER + """\
towers:
  p: {type: private, input: enc, copy: top, top_layers: 1}
heads:
  routed: {type: classify, input: p, data: reviews, labels: [neg, pos]}
  plain: {type: classify, input: enc, data: plain, labels: [neg, pos]}
train: {epochs: 1, batch_size: 16, lr: 3.0e-3, log_every: 1, seed: 3, metric: routed.accuracy}
"""


def test_a_routed_head_skips_batches_of_a_dataset_without_domains(tmp_path):
    """Multi-task: the private tower's head runs on its own (domain-carrying) batches only;
    the other dataset's rows have no domain and train the plain head."""
    from training_support import synthetic_rows, write_jsonl

    write_tower_recipe(tmp_path, "unused", n_train=96, n_dev=16)
    for name, seed, n in (("plain", 3, 96), ("plain-dev", 4, 16)):
        write_jsonl(tmp_path / f"{name}.jsonl",
                    [{k: v for k, v in r.items() if k != "domain"}
                     for r in synthetic_rows(n, seed)])
    recipe = tmp_path / "multi.yaml"
    recipe.write_text(MULTI)
    run = tmp_path / "run"
    proc = run_cli("train", str(recipe), "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    train = [m for m in read_metrics(run) if m["split"] == "train"]
    assert any("loss.routed" in m for m in train) and any("loss.plain" in m for m in train)
    dev = [m for m in read_metrics(run) if m["split"] == "dev"][-1]
    assert "routed.accuracy[a]" in dev and "plain.accuracy" in dev
