"""Keep rate per source domain from selection records: exact shares and mean probabilities,
domains missing from an episode, and the readable subset of a long run's episodes."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_runs import selection_record

from etdecl.report.jsonl_files import ReportError
from etdecl.report.keep_rates import (
    episode_of,
    markdown,
    selection_history,
    shown_episodes,
    table,
)


def test_keep_rate_and_mean_probability_per_domain_are_exact():
    record = selection_record(
        4, 120, domain=["books", "dvd", "books", "books", "dvd", "kitchen", "books"],
        kept=[1, 0, 1, 0, 1, 0, 1], prob=[0.9, 0.2, 0.7, 0.1, 0.6, 0.3, 0.5],
        metric=0.81, reward=0.02)
    e = episode_of(record, "pick.jsonl:1")
    assert (e.episode, e.step, e.metric, e.reward) == (4, 120, 0.81, 0.02)
    books, dvd, kitchen, every = (e.shares[k] for k in ("books", "dvd", "kitchen", "all"))
    assert (books.judged, books.kept, books.rate) == (4, 3, 0.75)
    assert books.mean_prob == pytest.approx(0.55)
    assert (dvd.judged, dvd.kept, dvd.rate) == (2, 1, 0.5)
    assert dvd.mean_prob == pytest.approx(0.4)
    assert (kitchen.kept, kitchen.rate) == (0, 0.0)
    assert (every.judged, every.kept) == (7, 4)
    assert every.rate == pytest.approx(4 / 7)
    assert every.mean_prob == pytest.approx(3.3 / 7)


def test_table_cells_say_rate_and_probability_and_dash_for_a_domain_not_judged():
    records = [
        (1, selection_record(0, 10, ["a", "a", "b"], [1, 0, 1], [0.5, 0.25, 1.0],
                             metric=None)),
        (2, selection_record(1, 20, ["a", "a", "a", "a"], [1, 1, 1, 0], [1.0] * 4,
                             metric=0.75, reward=-0.5)),
    ]
    history = selection_history(Path("pick.jsonl"), records)
    assert history.domains == ["a", "b"]
    headers, rows = table(history)
    assert [h.replace("\n", " ") for h in headers] == [
        "episode", "step", "metric", "reward", "judged", "a kept (p)", "b kept (p)",
        "all kept (p)"]
    assert rows == [
        ["0", "10", "-", "-", "3", "50% (0.38)", "100% (1.00)", "67% (0.58)"],
        ["1", "20", "0.7500", "-0.5000", "4", "75% (1.00)", "-", "75% (1.00)"],
    ]
    text = markdown("t", headers, rows)
    assert "| episode | step | metric | reward | judged | a kept (p) |" in text
    assert "| 1 | 20 | 0.7500 | -0.5000 | 4 | 75% (1.00) | - | 75% (1.00) |" in text


def test_columns_without_values_are_left_out():
    records = [(1, selection_record(0, 0, ["a"], [1], [1.0], metric=None, reward=None,
                                    type_="bayes"))]
    headers, rows = table(selection_history(Path("b.jsonl"), records))
    assert headers[:3] == ["episode", "step", "judged"]
    assert rows == [["0", "0", "1", "100% (1.00)", "100% (1.00)"]]


def test_many_episodes_show_first_last_and_evenly_spaced_ones():
    assert shown_episodes(12, 30) == list(range(12))
    shown = shown_episodes(1000, 30)
    assert len(shown) == 30 and shown[0] == 0 and shown[-1] == 999
    gaps = [b - a for a, b in zip(shown, shown[1:], strict=False)]
    assert min(gaps) >= 34 and max(gaps) <= 35
    assert shown_episodes(31, 30)[-1] == 30 and len(shown_episodes(31, 30)) == 30
    with pytest.raises(ValueError):
        shown_episodes(100, 1)


def test_a_record_without_its_lists_is_located():
    bad = selection_record(0, 10, ["a", "b"], [1], [0.5])
    with pytest.raises(ReportError, match=r"^run/selection/pick.jsonl:7: 'domain' and 'kept'"):
        episode_of(bad, "run/selection/pick.jsonl:7")
    with pytest.raises(ReportError, match=r"^x.jsonl:2: selection record lacks kept"):
        episode_of({"episode": 0, "step": 0, "domain": []}, "x.jsonl:2")
