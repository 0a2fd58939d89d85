"""`method: distill` through `etdecl train`: a tiny trained teacher teaches a tiny student with
logits KD and with PKD + TinyBERT + MiniLM; the loss parts are logged by name and fall; the
checkpoints hold the student only; the zero plugin trains a distill recipe too."""

from __future__ import annotations

import pytest
from distill_recipes import student_recipe, train, train_teacher
from training_support import load_weights


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return train_teacher(tmp_path_factory.mktemp("teacher"))


def _mean(xs):
    return sum(xs) / len(xs)


def _falls(train_rows, key):
    values = [m[key] for m in train_rows]
    assert all(v >= 0 for v in values), (key, values)
    assert _mean(values[-2:]) < _mean(values[:2]), (key, values)


def _student_only(run, width=16):
    for folder in ("best", (run / "checkpoints" / "last").read_text().strip()):
        path = run / "checkpoints" / folder
        files = [path] if path.is_file() else sorted(path.rglob("*.safetensors"))
        for f in files:
            keys = list(load_weights(f))
            assert keys and all(k.split(".")[0] in ("encoders", "heads", "objectives")
                                for k in keys), keys
            widths = {tuple(load_weights(f)[k].shape) for k in keys if "word_embeddings" in k}
            assert widths == {(30522, width)}, widths  # the student's, not the teacher's


def test_logits_kd(teacher, tmp_path):
    recipe = student_recipe(tmp_path, teacher, "logits: {temperature: 2.0, alpha: 0.7}",
                            epochs=3)
    run = tmp_path / "run"
    rows = train(recipe, run)
    _falls(rows, "loss.kd.t")
    assert "loss.cls" in rows[0]
    _student_only(run)


def test_representation_objectives(teacher, tmp_path):
    objectives = """\
pkd: {layers: uniform, weight: 10.0}
tinybert: {layers: last}
minilm: {relations: [attention, value]}"""
    recipe = student_recipe(tmp_path, teacher, objectives, epochs=3, width=32)
    run = tmp_path / "run"
    rows = train(recipe, run)
    for key in ("loss.pkd.t", "loss.tinybert.t.embeddings", "loss.tinybert.t.hidden",
                "loss.tinybert.t.attentions", "loss.tinybert.t.prediction",
                "loss.minilm.t.attention", "loss.minilm.t.value"):
        _falls(rows, key)
    _student_only(run, width=32)


def test_zero_plugin_trains_a_distill_recipe(teacher, tmp_path):
    recipe = student_recipe(tmp_path, teacher, "logits: {}\ntinybert: {parts: [hidden]}",
                            plan="parallel: {plugin: zero, zero_stage: 1}\n")
    run = tmp_path / "run"
    rows = train(recipe, run)
    assert {"loss.kd.t", "loss.tinybert.t.hidden"} <= set(rows[-1])
    _falls(rows, "loss.tinybert.t.hidden")
    best = run / "checkpoints" / "best"
    files = [best] if best.is_file() else sorted(best.rglob("*.safetensors"))
    keys = [k for f in files for k in load_weights(f)]
    assert any(k.startswith("objectives.tinybert_t_l") for k in keys), keys  # projections


@pytest.mark.slow
def test_a_bare_pretrained_teacher_teaches_representations(tmp_path):
    """`model: minilm-l6` (no head): TinyBERT's embedding and hidden parts through learned
    projections (24 → 384) and MiniLM's relations (12 heads each, eager attention)."""
    objectives = "tinybert: {parts: [embeddings, hidden]}\nminilm: {}"
    recipe = student_recipe(tmp_path, "minilm-l6", objectives, width=24, heads=12, epochs=1,
                            key="model")
    rows = train(recipe, tmp_path / "run")
    for key in ("loss.tinybert.t.embeddings", "loss.tinybert.t.hidden",
                "loss.minilm.t.attention", "loss.minilm.t.value"):
        assert all(0 <= m[key] < 1e4 for m in rows), key
    _student_only(tmp_path / "run", width=24)


def test_metakd_meta_teacher_then_domain_expertise_distillation(tmp_path):
    """MetaKD end to end: a `meta_teacher` run (typicality weights, domain corruption) teaches a
    student with `weighting: domain_expertise`; the weighted KD loss is logged and falls, and the
    student's checkpoint holds the student only."""
    from distill_recipes import BASE, bert, write_data

    folder = tmp_path / "meta"
    write_data(folder)
    meta = folder / "meta-teacher.yaml"
    meta.write_text(BASE.format(name="meta", config=bert(32), epochs=3,
                                extra="method: {type: meta_teacher, corruption: 0.1}\n")
                    .replace("fields: {text: text, label: label}",
                             "fields: {text: text, label: label, domain: domain}"))
    teacher = folder / "meta-run"
    rows = train(meta, teacher)
    assert "loss.corruption" in rows[-1] and "typicality.mean" in rows[-1]
    recipe = student_recipe(tmp_path, teacher, "logits: {temperature: 2.0, alpha: 0.7}",
                            epochs=3, method=", weighting: domain_expertise")
    recipe.write_text(recipe.read_text().replace(
        "fields: {text: text, label: label}", "fields: {text: text, label: label, domain: domain}"))
    run = tmp_path / "run"
    rows = train(recipe, run)
    _falls(rows, "loss.kd.t")
    _student_only(run)


def test_a_textcnn_student_learns_the_logits(teacher, tmp_path):
    """A small non-transformer student (TextCNN over the same word pieces) distils logits."""
    recipe = student_recipe(tmp_path, teacher, "logits: {temperature: 2.0, alpha: 0.7}",
                            epochs=3)
    text = recipe.read_text()
    start = text.index("  enc:\n")
    end = text.index("\nheads:") + 1
    recipe.write_text(text[:start] + "  enc: {type: textcnn, tokenizer: minilm-l6, "
                      "embedding_dim: 16, widths: [2, 3], channels: 8}\n" + text[end:])
    rows = train(recipe, tmp_path / "run")
    assert all(r["loss.kd.t"] >= 0 for r in rows)  # learnt from the teacher at every step
    _falls(rows, "loss.cls")  # (the tiny teacher's softened outputs start close to its own)
