"""Span features over strided windows, and n-best decoding on hand-built logits."""

import numpy as np
import pytest

from etdecl.tasks.spans import best_spans, build_span_features, decode_examples


@pytest.fixture(scope="module")
def tokenizer():
    from tests.tasks.tiny_tokenizer import word_tokenizer

    return word_tokenizer()


def test_windows_cover_a_long_context_and_locate_the_answer(tokenizer) -> None:
    context = " ".join(f"w{i}" for i in range(40)) + " denver broncos won " + "x " * 30
    start = context.index("denver")
    feats = build_span_features(
        tokenizer, ["who won"], [context.strip()], [(start, "denver broncos")], 24, 8
    )
    assert len(feats) > 2 and set(feats.example.tolist()) == {0}
    hits = [i for i in range(len(feats)) if feats.start[i] > 0]
    assert hits, "some window must contain the answer"
    for i in hits:
        s, e = feats.offsets[i][feats.start[i]], feats.offsets[i][feats.end[i]]
        assert context[s[0] : e[1]] == "denver broncos"
    # windows without the whole answer point at [CLS]
    assert all(feats.end[i] == 0 for i in range(len(feats)) if i not in hits)


def test_best_span_respects_context_order_and_length() -> None:
    context = "alpha beta gamma delta"
    offsets = [None, None, (0, 5), (6, 10), (11, 16), (17, 22), None]
    start = np.array([9.0, 0, 1, 5, 0, 0, 0])  # [CLS] scores high but is not context
    end = np.array([9.0, 0, 8, 0, 6, 0, 0])  # best end (alpha) lies before best start (beta)
    best = best_spans(start, end, offsets, context, n_best=5, max_answer_length=2)
    assert (best[0].text, best[0].start, best[0].end) == ("beta gamma", 6, 16)
    assert all(len(a.text.split()) <= 2 for a in best)
    assert all(a.score <= best[0].score for a in best)


def test_decode_picks_the_best_window_per_example() -> None:
    class F:
        example = np.array([0, 0, 1])
        offsets = [[None, (0, 3), (4, 7)], [None, (4, 7), (8, 11)], [None, (0, 2)]]

        def __len__(self) -> int:
            return 3

    contexts = ["abc def ghi", "zz"]
    starts = [np.array([0, 1.0, 0]), np.array([0, 0, 4.0]), np.array([0, 2.0])]
    ends = [np.array([0, 1.0, 0]), np.array([0, 0, 4.0]), np.array([0, 2.0])]
    out = decode_examples(F(), starts, ends, contexts)
    assert [a.text for a in out] == ["ghi", "zz"]
