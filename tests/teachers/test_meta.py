"""MetaKD (part META): class × domain prototypes and typicality weights, the meta-teacher method
(typicality-weighted task loss plus the domain-corruption loss, prototypes as resumable state)
and the `domain_expertise` weigher the distill method calls.

The end-to-end distill run with `weighting: domain_expertise` needs the `distill` method (part
DISTILL): here the weigher is tested directly on synthetic teacher outputs.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

from training_support import TINY_ENCODER, read_metrics, run_cli, write_jsonl  # noqa: E402

from etdecl.engine.methods import METHODS, MethodContext  # noqa: E402
from etdecl.engine.methods.meta_teacher import MetaTeacher  # noqa: E402
from etdecl.engine.methods.prototypes import (  # noqa: E402
    EpochPrototypes,
    Prototypes,
    typicality,
    typicality_scores,
)
from etdecl.engine.methods.weighting import make_weigher  # noqa: E402
from etdecl.recipe.schema_teachers import DistillMethod, MetaTeacherMethod  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ETDECL_CACHE", str(tmp_path_factory.getbasetemp() / "etdecl-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


# ── synthetic features: two domains, two classes, clusters plus outliers ─────────────────────


def _clusters(n_per: int = 20, n_out: int = 6, width: int = 16, seed: int = 0):
    """Rows of class y in domain d near centre[y] + a small domain shift; the outliers sit in
    random directions. Returns features, labels, domains, is_outlier."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.randn(2, width, generator=g) * 3
    shift = torch.randn(2, width, generator=g) * 0.5
    feats, labels, domains, outlier = [], [], [], []
    for y in range(2):
        for d in range(2):
            feats.append(centre[y] + shift[d] + 0.3 * torch.randn(n_per, width, generator=g))
            labels += [y] * n_per
            domains += [d] * n_per
            outlier += [False] * n_per
    feats.append(torch.randn(n_out, width, generator=g) * 3)
    labels += [i % 2 for i in range(n_out)]
    domains += [(i // 2) % 2 for i in range(n_out)]
    outlier += [True] * n_out
    return (torch.cat(feats), torch.tensor(labels), torch.tensor(domains),
            torch.tensor(outlier))


def test_typicality_weights_favour_prototypical_examples():
    h, y, d, out = _clusters()
    protos = Prototypes(2, 2)
    protos.update(h, y, d)
    assert protos.present.all()
    for mix in (0.0, 0.5, 1.0):
        w = typicality(h, y, d, protos, mix)
        assert torch.all(w > 0)
        assert w.mean().item() == pytest.approx(1.0, abs=1e-5)
        assert w[out].max() < w[~out].min(), (mix, w[out], w[~out].min())


def test_typicality_mixes_own_and_other_domains_and_skips_unlabelled_rows():
    protos = Prototypes(2, 2)
    e0, e1 = torch.eye(2)
    # class 0: domain 0's prototype along e0, domain 1's along e1
    protos.update(torch.stack([e0, e1]), torch.tensor([0, 0]), torch.tensor([0, 1]))
    h = torch.stack([e0, e0, e0])
    y, d = torch.tensor([0, 0, -1]), torch.tensor([0, 0, 0])
    for mix, expected in ((1.0, 1.0), (0.0, 0.0), (0.5, 0.5), (0.25, 0.25)):
        scores, valid = typicality_scores(h, y, d, protos, mix)
        assert valid.tolist() == [True, True, False]
        assert scores[0].item() == pytest.approx(expected, abs=1e-6)
    w = typicality(h, y, d, protos, 0.5)
    assert w[2].item() == 1.0  # no label: weight 1


def test_epoch_prototypes_first_epoch_running_then_refreshed_or_kept():
    h, y, d, _ = _clusters(n_per=4, n_out=0)
    for refresh in ("epoch", "once"):
        p = EpochPrototypes(2, 2, refresh)
        p.observe(h[:8], y[:8], d[:8])
        assert p.fixed is None and p.current is p.running  # first epoch: running means
        p.observe(h[8:], y[8:], d[8:])
        p.end_epoch()
        first = p.current.means().clone()
        assert torch.allclose(first, Prototypes_from(h, y, d).means())
        p.observe(h + 5.0, y, d)  # the second epoch's features moved
        assert torch.equal(p.current.means(), first)  # weighted against epoch 1's means
        p.end_epoch()
        moved = not torch.allclose(p.current.means(), first)
        assert moved == (refresh == "epoch"), refresh
        again = EpochPrototypes(2, 2, refresh)
        again.load_state_dict(json.loads(json.dumps(p.state_dict())))
        assert torch.equal(again.current.means(), p.current.means())


def Prototypes_from(h, y, d) -> Prototypes:  # noqa: N802
    p = Prototypes(2, 2)
    p.update(h, y, d)
    return p


# ── the domain-expertise weigher (distill's `weighting: domain_expertise`) ────────────────────


class _Task:
    labels = ("neg", "pos")


def _weigher_ctx():
    from etdecl.recipe.schema_teachers import Teacher

    class Recipe:
        teachers = {"big": Teacher(source="runs/teacher")}

        class data:  # noqa: N801
            domains = ["a", "b"]

    return MethodContext({"cls": _Task()}, {0: ["cls"]}, {"cls": 1.0}, recipe=Recipe())


def test_weigher_gives_less_weight_to_examples_the_teacher_gets_wrong():
    h, y, d, out = _clusters(n_out=0)
    wrong = torch.zeros(len(y), dtype=torch.bool)
    wrong[::5] = True
    logits = torch.where((torch.nn.functional.one_hot(y, 2).bool() ^ wrong.unsqueeze(1)),
                         torch.tensor(3.0), torch.tensor(-3.0))
    weigher = make_weigher(DistillMethod(type="distill", weighting="domain_expertise"),
                           _weigher_ctx())
    batch = {"input_ids": torch.zeros(len(y), 4, dtype=torch.long), "cls.label": y,
             "domain": d}
    teacher_out = {"big.cls.logits": logits, "big.pooled": h}
    w = weigher.weights(batch, teacher_out)
    assert w.shape == (len(y),)
    assert w.mean().item() == pytest.approx(1.0, abs=1e-4)
    assert w[wrong].max() < w[~wrong].min()
    assert torch.all(w >= 0.05 * 0.99) and torch.all(w <= 5.0 * 1.01)
    # state round trip (state.json): the same prototypes, the same weights
    again = make_weigher(DistillMethod(type="distill", weighting="domain_expertise"),
                         _weigher_ctx())
    again.load_state_dict(json.loads(json.dumps(weigher.state_dict())))
    assert torch.allclose(again.protos["cls"].means(), weigher.protos["cls"].means())
    # rows without a label keep weight 1; `none` weighs everything 1
    batch["cls.label"] = torch.full_like(y, -1)
    assert torch.equal(weigher.weights(batch, teacher_out), torch.ones(len(y)))
    plain = make_weigher(DistillMethod(type="distill"), _weigher_ctx())
    assert torch.equal(plain.weights(batch, teacher_out), torch.ones(len(y)))


def test_weigher_prefers_typical_examples_when_the_teacher_is_equally_sure():
    h, y, d, out = _clusters()
    logits = torch.nn.functional.one_hot(y, 2).float() * 4.0
    weigher = make_weigher(DistillMethod(type="distill", weighting="domain_expertise"),
                           _weigher_ctx())
    batch = {"cls.label": y, "domain": d}
    w = weigher.weights(batch, {"big.cls.logits": logits, "big.pooled": h})
    assert w[out].max() < w[~out].min()


# ── the meta-teacher method on a tiny BERT ───────────────────────────────────────────────────

GOOD = ["great", "superb", "lovely", "wonderful", "brilliant", "charming"]
BAD = ["awful", "dull", "boring", "tedious", "clumsy", "bland"]
WORDS = {"a": ["film", "actor", "plot", "scene", "director", "script", "cast", "camera"],
         "b": ["pan", "kettle", "knife", "oven", "blender", "toaster", "spoon", "lid"]}


def domain_rows(n: int, seed: int) -> list[dict]:
    """Sentiment follows the opinion words; the domain shows in the other words."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label, domain = rng.choice(["pos", "neg"]), rng.choice(["a", "b"])
        words = rng.sample(WORDS[domain], 4) + rng.sample(GOOD if label == "pos" else BAD, 2)
        rng.shuffle(words)
        rows.append({"id": i, "text": " ".join(words), "label": label, "domain": domain})
    return rows


META_RECIPE = """\
etdecl: 1
name: meta-tiny
data:
  train: {{path: train.jsonl}}
  dev: {{path: dev.jsonl}}
  fields: {{text: text, label: label, domain: domain}}
  domains: [a, b]
  max_length: 16
encoders:
{encoder}heads:
  cls: {{type: classify, input: enc, labels: [neg, pos], dropout: 0.0}}
method: {{type: meta_teacher, typicality: 0.5, corruption: {corruption}, refresh: {refresh}}}
train: {{epochs: {epochs}, batch_size: 16, lr: 3.0e-3, warmup: 0.1, eval_every: 100,
        log_every: 1, seed: 3}}
"""


def write_meta(folder: Path, epochs: int = 2, refresh: str = "epoch",
               corruption: float = 0.5, n_train: int = 160) -> Path:
    write_jsonl(folder / "train.jsonl", domain_rows(n_train, 1))
    write_jsonl(folder / "dev.jsonl", domain_rows(32, 2))
    path = folder / "meta.yaml"
    path.write_text(META_RECIPE.format(encoder=TINY_ENCODER, epochs=epochs, refresh=refresh,
                                       corruption=corruption))
    return path


def _tokenise(compiled, rows):
    enc = compiled.tokenizer([r["text"] for r in rows], padding=True, truncation=True,
                             max_length=16, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
            "token_type_ids": enc["token_type_ids"],
            "cls.label": torch.tensor([["neg", "pos"].index(r["label"]) for r in rows]),
            "domain": torch.tensor([["a", "b"].index(r["domain"]) for r in rows])}


def _method(loaded, compiled) -> MetaTeacher:
    ctx = MethodContext(compiled.tasks, {0: ["cls"]}, {"cls": 1.0}, recipe=loaded.recipe,
                        graph=compiled.model)
    method = METHODS["meta_teacher"](loaded.recipe.method, ctx)
    for name, module in method.extra_modules().items():
        compiled.model.objectives[name] = module
    return method


def test_corruption_is_logged_and_the_domain_classifier_stays_near_chance(tmp_path):
    """The domain shows in the words, yet the domain classifier, trained on shuffled domain
    labels, cannot tell the domains apart while the task head learns."""
    from etdecl.compile.graph import compile_recipe
    from etdecl.recipe.validate import load_recipe

    loaded = load_recipe(write_meta(tmp_path))
    compiled = compile_recipe(loaded)
    method = _method(loaded, compiled)
    model = compiled.model
    assert isinstance(method.cfg, MetaTeacherMethod)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rows = domain_rows(192, 5)
    task, stats = [], []
    for step in range(60):  # 5 passes over 12 batches
        batch = _tokenise(compiled, rows[(step % 12) * 16:(step % 12 + 1) * 16])
        model.train()
        out = model(**batch)
        parts = method.loss(out, batch)
        opt.zero_grad()
        parts.total.backward()
        opt.step()
        task.append(float(parts.parts["loss.cls"]))
        stats.append(parts.parts)
    assert all("loss.corruption" in p and float(p["loss.corruption"]) > 0 for p in stats)
    assert all(-1 <= float(p["typicality.min"]) <= float(p["typicality.mean"]) <= 1
               for p in stats)
    assert sum(task[-4:]) / 4 < 0.7 * sum(task[:4]) / 4, task
    test = _tokenise(compiled, domain_rows(128, 9))
    model.eval()
    with torch.no_grad():
        out = model(**test)
        assert not any(k.startswith("meta_teacher.") for k in out)  # training only
        enc = model.encode("enc", "a", test)
        domain_acc = (model.objectives["meta_domain"](enc.pooled).argmax(-1)
                      == test["domain"]).float().mean().item()
        task_acc = (out["cls.logits"].argmax(-1) == test["cls.label"]).float().mean().item()
    assert task_acc >= 0.8, task_acc
    # early on, a classifier fit to random labels drifts along the features' widest direction
    # (here the domain) with a random sign; trained on, it predicts no domain
    assert 0.3 <= domain_acc <= 0.7, domain_acc


def test_method_state_survives_a_checkpoint_round_trip(tmp_path):
    from etdecl.compile.graph import compile_recipe
    from etdecl.recipe.validate import load_recipe

    loaded = load_recipe(write_meta(tmp_path))
    compiled = compile_recipe(loaded)
    method = _method(loaded, compiled)
    rows = domain_rows(64, 4)
    compiled.model.train()
    for i in range(4):
        batch = _tokenise(compiled, rows[i * 16:(i + 1) * 16])
        method.loss(compiled.model(**batch), batch)
        if i == 1:
            method.on_epoch_end(1)
    state = json.loads(json.dumps(method.state_dict()))  # what state.json keeps
    again = _method(loaded, compile_recipe(loaded))
    again.load_state_dict(state)
    assert again.state_dict() == method.state_dict()
    batch = _tokenise(compiled, rows[:16])
    with torch.no_grad():
        out = compiled.model(**batch)
    w1 = typicality(out["meta_teacher.pooled"], batch["cls.label"], batch["domain"],
                    method.protos.current, 0.5)
    w2 = typicality(out["meta_teacher.pooled"], batch["cls.label"], batch["domain"],
                    again.protos.current, 0.5)
    assert torch.equal(w1, w2)


def test_meta_teacher_recipe_trains_and_resumes_with_the_same_prototypes(tmp_path):
    recipe = write_meta(tmp_path, epochs=2)
    proc = run_cli("validate", str(recipe))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    proc = run_cli("train", str(recipe), "--run-dir", str(whole))
    assert proc.returncode == 0, proc.stderr[-3000:]
    train = [m for m in read_metrics(whole) if m["split"] == "train"]
    assert len(train) == 20
    loss = [m["loss.cls"] for m in train]
    assert sum(loss[-4:]) / 4 < 0.8 * sum(loss[:4]) / 4, loss
    assert all("loss.corruption" in m and "typicality.mean" in m for m in train)
    # stopped in the second epoch: its checkpoint holds the first epoch's prototypes
    first = run_cli("train", str(recipe), "--run-dir", str(parts), "--stop-after", "14")
    assert first.returncode == 0, first.stderr[-3000:]
    last = (parts / "checkpoints" / "last").read_text().strip()
    saved = json.loads((parts / "checkpoints" / last / "state.json").read_text())["method"]
    assert saved["prototypes"]["fixed"] is not None
    second = run_cli("train", str(recipe), "--run-dir", str(parts), "--resume")
    assert second.returncode == 0, second.stderr[-3000:]

    def final(run: Path) -> dict:
        step = (run / "checkpoints" / "last").read_text().strip()
        return json.loads((run / "checkpoints" / step / "state.json").read_text())["method"]

    assert final(whole) == final(parts)
    # the finished run opens for inference (and as a teacher) without the domain classifier
    from etdecl.engine.inference import load_model

    run = load_model(whole)
    assert not list(run.compiled.model.objectives.parameters())
    proc = run_cli("evaluate", str(whole), "--data", str(tmp_path / "dev.jsonl"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = [m["typicality.mean"] for m in read_metrics(whole) if m["split"] == "train"]
    b = [m["typicality.mean"] for m in read_metrics(parts) if m["split"] == "train"]
    assert a == b


def test_meta_teacher_static_errors(tmp_path):
    recipe = write_meta(tmp_path)
    text = recipe.read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("fields: {text: text, label: label, domain: domain}\n"
                                "  domains: [a, b]", "fields: {text: text, label: label}"))
    proc = run_cli("validate", str(bad), "--no-data")
    assert proc.returncode != 0
    assert "meta_teacher" in proc.stdout + proc.stderr
    assert "has none" in proc.stdout + proc.stderr


@pytest.mark.dist
@pytest.mark.parametrize("plugin", ["ddp", "zero"])
def test_meta_teacher_trains_on_two_processes_with_prototypes_over_both(plugin, tmp_path):
    """Each rank sees half of an epoch's rows; the epoch's prototypes sum both halves."""
    recipe = write_meta(tmp_path, epochs=2)
    run = tmp_path / "run"
    proc = run_cli("train", str(recipe), "--run-dir", str(run), "--nproc", "2",
                   "--set", f"parallel.plugin={plugin}", "--set", "train.max_steps=12")
    assert proc.returncode == 0, proc.stderr[-3000:]
    train = [m for m in read_metrics(run) if m["split"] == "train"]
    assert len(train) == 12 and all("loss.corruption" in m for m in train)
    last = (run / "checkpoints" / "last").read_text().strip()
    state = json.loads((run / "checkpoints" / last / "state.json").read_text())["method"]
    counts = torch.tensor(state["prototypes"]["fixed"]["counts"])
    assert counts.sum().item() == 160 and bool((counts > 0).all())
