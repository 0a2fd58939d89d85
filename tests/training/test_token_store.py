"""The streaming token store (`data.stream`): the same features as in-memory tokenising, bit for
bit, for every task type; reused when complete, rebuilt when not; bad rows located; a streamed
recipe trains."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from task_rows import pair_rows, span_rows, tag_rows
from training_support import TINY_ENCODER, TINY_RECIPE, run_cli, synthetic_rows, write_jsonl

from etdecl.data import token_store
from etdecl.data.examples import load_splits, selection_key, split_rows, tasks_of
from etdecl.data.token_store import MANIFEST, build_store, open_store, stream_features
from etdecl.data.tokens import encode_cached
from etdecl.datafiles.readers import DataError
from etdecl.recipe.datasets import datasets
from etdecl.recipe.errors import RecipeError
from etdecl.recipe.validate import load_recipe

HEADS = {
    "classify": ("cls: {type: classify, input: enc, labels: [neg, pos]}",
                 "", lambda n, s: synthetic_rows(n, s)),
    "pair": ("cls: {type: classify, input: enc, labels: [contradiction, entailment]}",
             "fields: {text: text_a, text_pair: text_b}, ", pair_rows),
    "siamese": ("nli: {type: match, input: enc, mode: siamese, "
                "labels: [contradiction, entailment]}",
                "fields: {text: text_a, text_pair: text_b}, ", pair_rows),
    "tag": ("ner: {type: tag, input: enc, labels: [O, B-person, I-person, B-location, "
            "I-location]}", "", tag_rows),
    "span": ("qa: {type: span, input: enc, doc_stride: 8}", "", span_rows),
}


def _recipe(tmp_path: Path, kind: str, n: int = 53) -> Path:
    head, fields, rows = HEADS[kind]
    write_jsonl(tmp_path / "train.jsonl", rows(n, 1))
    write_jsonl(tmp_path / "dev.jsonl", rows(12, 2))
    path = tmp_path / "r.yaml"
    path.write_text(
        "etdecl: 1\nname: s\n"
        f"data: {{train: {{path: train.jsonl}}, dev: {{path: dev.jsonl}}, {fields}"
        "max_length: 24, stream: true}\n"
        "encoders:\n" + TINY_ENCODER + f"heads:\n  {head}\n"
        "train: {epochs: 1, batch_size: 8, seed: 3}\n")
    return path


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from etdecl.recipe.aliases import resolve_model

    return AutoTokenizer.from_pretrained(str(resolve_model("minilm-l6")))


def _store_of(path: Path, tokenizer, workers: int, chunk: int, skipped=None):
    loaded = load_recipe(path)
    [task] = tasks_of(loaded, "main")
    view = datasets(loaded.recipe)["main"]
    rows, file = split_rows(loaded, view, "train", [task], skipped if skipped is not None
                            else Counter())
    return loaded, task, build_store(rows, token_store.store_dir() / f"t{workers}-{chunk}",
                                     task, tokenizer, 24, workers=workers, chunk=chunk,
                                     skipped=skipped)


@pytest.mark.parametrize("kind", sorted(HEADS))
@pytest.mark.parametrize("workers,chunk", [(0, 7), (2, 10), (2, 4096)])
def test_store_holds_the_in_memory_features_bit_for_bit(tmp_path, tokenizer, kind, workers,
                                                        chunk):
    loaded, task, stored = _store_of(_recipe(tmp_path, kind), tokenizer, workers, chunk)
    splits = load_splits(loaded)
    mem = encode_cached(splits.train, task, tokenizer, 24, splits.sources["train"],
                        use_cache=False).arrays()
    disk = stored.feats.arrays()
    assert sorted(disk) == sorted(mem)
    for name, arr in mem.items():
        assert isinstance(disk[name], np.memmap), name
        assert disk[name].dtype == arr.dtype and disk[name].shape == arr.shape, name
        assert np.array_equal(disk[name], arr), name
    assert len(stored) == len(splits.train)


def test_store_keeps_domain_ids_and_skipped_rows(tmp_path, tokenizer):
    path = _recipe(tmp_path, "classify")
    rows = synthetic_rows(40, 1)
    rows[5]["label"] = "neutral"
    write_jsonl(tmp_path / "train.jsonl", rows)
    loaded = load_recipe(path, ["data.on_bad_row=skip", "data.fields.domain=domain"])
    [task] = tasks_of(loaded, "main")
    view = datasets(loaded.recipe)["main"]
    skipped: Counter = Counter()
    rows_iter, file = split_rows(loaded, view, "train", [task], skipped)
    stored = stream_features(rows_iter, task, tokenizer, 24,
                             selection_key(loaded, view, "train", [task], file), workers=0,
                             skipped=skipped)
    kept = [r for i, r in enumerate(rows) if i != 5]
    assert [stored.domain_names[i] for i in stored.domain_ids] == [r["domain"] for r in kept]
    assert sum(skipped.values()) == 1
    again: Counter = Counter()
    stream_features(iter(()), task, tokenizer, 24,
                    selection_key(loaded, view, "train", [task], file), skipped=again)
    assert again == skipped  # the reused store reports what its build skipped


def test_complete_store_is_reused_and_incomplete_one_rebuilt(tmp_path, tokenizer):
    loaded = load_recipe(_recipe(tmp_path, "classify", n=30))
    [task] = tasks_of(loaded, "main")
    examples = load_splits(loaded).train
    first = stream_features(examples, task, tokenizer, 24, "sel", workers=0)
    path = first.path

    def never():
        raise AssertionError("rows read although a complete store exists")
        yield

    again = stream_features(never(), task, tokenizer, 24, "sel")
    assert np.array_equal(again.feats.ids, first.feats.ids)
    assert stream_features(examples[:5], task, tokenizer, 16, "sel", workers=0).path != path

    (path / MANIFEST).unlink()  # a crash before the marker: not trusted, rebuilt
    assert open_store(path) is None
    rebuilt = stream_features(examples, task, tokenizer, 24, "sel", workers=0)
    assert rebuilt.path == path and np.array_equal(rebuilt.feats.ids, first.feats.ids)

    def crashing():
        yield from examples[:20]
        raise RuntimeError("crash while reading")

    other = token_store.store_dir() / "crashed"
    with pytest.raises(RuntimeError, match="crash while reading"):
        build_store(crashing(), other, task, tokenizer, 24, workers=2, chunk=8)
    assert not other.exists()
    assert not list(other.parent.glob("crashed.tmp*"))


def test_bad_row_names_its_file_and_line(tmp_path, tokenizer):
    path = _recipe(tmp_path, "classify")
    rows = synthetic_rows(5000, 1)
    rows[4321]["label"] = "neutral"
    write_jsonl(tmp_path / "train.jsonl", rows)
    with pytest.raises(DataError) as info:
        _store_of(path, tokenizer, workers=2, chunk=1000)
    assert info.value.line == 4322 and info.value.file.endswith("train.jsonl")
    assert "label 'neutral'" in info.value.message
    assert not list(token_store.store_dir().glob("t2-1000*"))


def test_streamed_run_data_batches_like_in_memory(tmp_path):
    from etdecl.compile.graph import compile_recipe
    from etdecl.engine.run_data import prepare

    path = _recipe(tmp_path, "classify")
    write_jsonl(tmp_path / "train.jsonl", synthetic_rows(53, 1))
    streamed = load_recipe(path, ["data.fields.domain=domain"])
    compiled = compile_recipe(streamed)
    disk = prepare(streamed, compiled, True)
    mem = prepare(load_recipe(path, ["data.fields.domain=domain", "data.stream=false"]),
                  compiled, True)
    assert isinstance(disk.train[0].feats.ids, np.memmap)
    assert disk.sizes() == mem.sizes() and disk.domains == mem.domains
    index = np.array([3, 0, 52, 17])
    a, b = disk.train[0].batch(index), mem.train[0].batch(index)
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and bool((a[key] == b[key]).all()), key
    assert not isinstance(disk.dev[0].feats.ids, np.memmap)  # dev stays in memory


def test_streamed_recipe_trains(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", synthetic_rows(64, seed=1))
    write_jsonl(tmp_path / "dev.jsonl", synthetic_rows(16, seed=2))
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_RECIPE.format(epochs=1, dropout=0.0, pooling="mean"))
    proc = run_cli("train", str(path), "--run-dir", str(tmp_path / "run"),
                   "--set", "data.stream=true", "--set", "train.max_steps=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(token_store.store_dir().glob(f"*/{MANIFEST}"))


@pytest.mark.parametrize("old,new,key,words", [
    ("dev: {path: dev.jsonl}, ", "", "data.stream", "needs a dev source"),
    ("{path: train.jsonl}", "{path: train.jsonl, limit: 10}", "data.train.limit",
     "cannot be sampled"),
])
def test_stream_refuses_what_needs_every_row(tmp_path, old, new, key, words):
    path = _recipe(tmp_path, "classify")
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    [problem] = [p for p in info.value.problems if p.severity == "error"]
    assert problem.path == key and words in problem.message
    text = path.read_text().splitlines()[problem.loc.line - 1]
    assert f"{key.split('.')[-1]}:" in text and problem.loc.col > 1  # the key's line
