"""The teacher-output cache: ragged rows round-trip; the second epoch reads every batch from
it (hit rate 1.0); a changed teacher checkpoint gives a new key (misses again); `cache: false`
runs the teacher every step."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from distill_recipes import student_recipe, train, train_teacher

from etdecl.engine.teacher_cache import TeacherCache, cache_key


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return train_teacher(tmp_path_factory.mktemp("teacher"))


def test_rows_round_trip_padded_with_zeros(tmp_path):
    from etdecl.tasks.base import Features

    lengths = np.array([3, 5, 2])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    feats = Features(ids=np.arange(offsets[-1]), type_ids=np.zeros(offsets[-1], np.int64),
                     offsets=offsets, example=np.arange(3))
    cache = TeacherCache(tmp_path)
    store = cache.open("t", "fp", ["cls.logits", "hidden.1", "attn.2"], 0, feats)
    index = np.array([2, 0])
    width = 3
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    out = {"cls.logits": torch.randn(2, 2), "pooled": torch.randn(2, 4),
           "hidden.1": torch.randn(2, width, 4) * mask[..., None],
           "attn.2": torch.rand(2, 2, width, width) * mask[:, None, :, None] * mask[:, None, None]}
    assert not store.has(index)
    store.write(index, out)
    assert store.has(index) and not store.has(np.array([1]))
    back = store.read(index, width)
    assert torch.equal(back["cls.logits"], out["cls.logits"])
    assert torch.allclose(back["pooled"], out["pooled"], atol=1e-2)  # float32 kept
    assert torch.allclose(back["hidden.1"], out["hidden.1"], atol=1e-2)  # float16
    assert torch.allclose(back["attn.2"], out["attn.2"], atol=1e-2)
    # the same folder, opened again (a later run), knows its rows
    again = TeacherCache(tmp_path).open("t", "fp", ["cls.logits", "hidden.1", "attn.2"], 0, feats)
    assert again.has(index)
    assert cache_key("fp", ["a"], "d") != cache_key("fp2", ["a"], "d")
    assert cache_key("fp", ["a"], "d") != cache_key("fp", ["a"], "d2")


def _by_epoch(rows):
    rates: dict[int, list[float]] = {}
    for m in rows:
        rates.setdefault(m["epoch"], []).append(m["cache.hit_rate"])
    return {e: sum(v) / len(v) for e, v in rates.items()}


OBJECTIVES = "logits: {}\ntinybert: {parts: [hidden, attentions]}\nminilm: {}"


def test_second_epoch_hits_and_a_changed_teacher_misses(teacher, tmp_path):
    recipe = student_recipe(tmp_path, teacher, OBJECTIVES, width=32,
                            method=", cache_dir: cache")
    rows = train(recipe, tmp_path / "run1")
    assert _by_epoch(rows) == {0: 0.0, 1: 1.0}
    assert "teacher cache" in (tmp_path / "run1" / "summary.md").read_text()
    keys = {p.name for p in (tmp_path / "cache").iterdir()}
    assert len(keys) == 1
    # a second run with the same teacher and data reads everything from the start
    rows = train(recipe, tmp_path / "run2")
    assert _by_epoch(rows) == {0: 1.0, 1: 1.0}
    # a changed teacher checkpoint: a new key, misses again
    ckpt = teacher / "checkpoints" / "best" / "model.safetensors"
    st = ckpt.stat()
    os.utime(ckpt, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    rows = train(recipe, tmp_path / "run3")
    assert _by_epoch(rows) == {0: 0.0, 1: 1.0}
    assert len({p.name for p in (tmp_path / "cache").iterdir()}) == 2


def test_cached_and_uncached_runs_learn_the_same(teacher, tmp_path):
    """The second epoch's losses from cached teacher outputs match the teacher's own (float16
    storage aside)."""
    a = train(student_recipe(tmp_path, teacher, OBJECTIVES, width=32, name="a",
                             method=", cache_dir: cache"), tmp_path / "a")
    b = train(student_recipe(tmp_path, teacher, OBJECTIVES, width=32, name="b",
                             method=", cache: false"), tmp_path / "b")
    assert "cache.hit_rate" not in b[-1]
    for key in ("loss.kd.t", "loss.tinybert.t.hidden", "loss.minilm.t.value"):
        assert a[-1][key] == pytest.approx(b[-1][key], rel=0.05, abs=1e-3), key


def test_plan_prints_the_cache_size(teacher, tmp_path):
    from training_support import run_cli

    recipe = student_recipe(tmp_path, teacher, OBJECTIVES, width=32)
    proc = run_cli("plan", str(recipe))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = " ".join(proc.stdout.split())
    assert "teacher-output cache" in text and "total" in text, text
    for output in ("cls.logits", "hidden_states", "attentions", "relations"):
        assert output in text, (output, text)
