"""Keep rate per source domain over time, from a selector's log (`engine/selectors/records.py`).

Per episode and domain: the share of the domain's judgements in the episode that kept the
example (an example judged twice counts twice, as it was trained on or dropped twice), and the
mean keep probability the selector gave them (for `bayes`, the score rank: 1 = best). A long run
is shown as a readable subset of episodes: the first, the last and evenly spaced ones between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .jsonl_files import Located, ReportError

ALL = "all"


@dataclass(frozen=True)
class Share:
    """One domain's judgements in one episode."""

    judged: int
    kept: int
    mean_prob: float | None

    @property
    def rate(self) -> float:
        return self.kept / self.judged


@dataclass(frozen=True)
class Episode:
    episode: int
    step: int
    metric: float | None
    reward: float | None
    shares: dict[str, Share]
    """Per domain judged in the episode, plus `all`."""


@dataclass(frozen=True)
class SelectionHistory:
    selector: str
    type: str | None
    domains: list[str]
    """Every domain judged in any episode, sorted."""
    episodes: list[Episode]
    extra: dict[str, Any]
    """The first record's other fields worth showing (bayes: `weights`, `reference`)."""


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def _share(kept: list[int], probs: list[float] | None) -> Share:
    mean = sum(probs) / len(probs) if probs else None
    return Share(judged=len(kept), kept=sum(kept), mean_prob=mean)


def episode_of(record: dict[str, Any], where: str) -> Episode:
    """One record's keep rates; `where` (`file:line`) locates a malformed record."""
    missing = [k for k in ("episode", "step", "domain", "kept") if k not in record]
    if missing:
        raise ReportError(f"{where}: selection record lacks {', '.join(missing)}")
    domains, kept, probs = record["domain"], record["kept"], record.get("prob")
    if not isinstance(domains, list) or not isinstance(kept, list) or len(domains) != len(kept):
        raise ReportError(f"{where}: 'domain' and 'kept' must be lists of the same length")
    if probs is not None and (not isinstance(probs, list) or len(probs) != len(kept)):
        raise ReportError(f"{where}: 'prob' must be a list as long as 'kept'")
    by_domain: dict[str, tuple[list[int], list[float]]] = {}
    for i, (domain, flag) in enumerate(zip(domains, kept, strict=True)):
        ks, ps = by_domain.setdefault(str(domain), ([], []))
        ks.append(1 if flag else 0)
        if probs is not None:
            ps.append(float(probs[i]))
    shares = {d: _share(ks, ps if probs is not None else None)
              for d, (ks, ps) in sorted(by_domain.items())}
    all_probs = [float(p) for p in probs] if probs is not None else None
    shares[ALL] = _share([1 if k else 0 for k in kept], all_probs)
    try:
        episode, step = int(record["episode"]), int(record["step"])
    except (TypeError, ValueError):
        raise ReportError(f"{where}: 'episode' and 'step' must be numbers") from None
    return Episode(episode=episode, step=step, metric=_number(record.get("metric")),
                   reward=_number(record.get("reward")), shares=shares)


def selection_history(path: Path, records: Sequence[Located]) -> SelectionHistory:
    """Every episode of one selector's log, in the order written."""
    episodes = [episode_of(r, f"{path}:{n}") for n, r in records]
    domains = sorted({d for e in episodes for d in e.shares if d != ALL})
    first = records[0][1] if records else {}
    extra = {k: first[k] for k in ("weights", "reference") if k in first}
    return SelectionHistory(selector=str(first.get("selector", path.stem)),
                            type=first.get("type"), domains=domains, episodes=episodes,
                            extra=extra)


def shown_episodes(count: int, limit: int = 30) -> list[int]:
    """Indices of the episodes a table shows: all up to `limit`, else `limit` of them, the
    first, the last and evenly spaced between."""
    if limit < 2:
        raise ValueError("at least 2 episodes must be shown (the first and the last)")
    if count <= limit:
        return list(range(count))
    return sorted({round(i * (count - 1) / (limit - 1)) for i in range(limit)})


def _cell(share: Share | None) -> str:
    if share is None:
        return "-"
    text = f"{share.rate:.0%}"
    return text if share.mean_prob is None else f"{text} ({share.mean_prob:.2f})"


def table(history: SelectionHistory,
          indices: Sequence[int] | None = None) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of the keep-rate table: episode, step, metric and reward where the log
    has them, judged count, then per domain and `all`: 'kept% (mean prob)'. Headers hold a line
    break between the domain and the cell's legend."""
    episodes = history.episodes
    chosen = [episodes[i] for i in (range(len(episodes)) if indices is None else indices)]
    has_metric = any(e.metric is not None for e in episodes)
    has_reward = any(e.reward is not None for e in episodes)
    headers = ["episode", "step"]
    if has_metric:
        headers.append("metric")
    if has_reward:
        headers.append("reward")
    headers.append("judged")
    headers += [f"{d}\nkept (p)" for d in [*history.domains, ALL]]
    rows = []
    for e in chosen:
        row = [str(e.episode), str(e.step)]
        if has_metric:
            row.append("-" if e.metric is None else f"{e.metric:.4f}")
        if has_reward:
            row.append("-" if e.reward is None else f"{e.reward:+.4f}")
        row.append(str(e.shares[ALL].judged))
        row += [_cell(e.shares.get(d)) for d in [*history.domains, ALL]]
        rows.append(row)
    return headers, rows


def legend(history: SelectionHistory) -> str:
    prob = "score rank, 1 = best" if history.type == "bayes" else "mean keep probability"
    return (f"per domain: share of its judged examples kept in the episode ({prob}); "
            "'-': not judged in that episode")


def markdown(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
             notes: Sequence[str] = ()) -> str:
    """A GitHub-flavoured markdown table (numbers right-aligned) under a heading."""
    names = [h.replace("\n", " ") for h in headers]
    lines = [f"# {title}", ""]
    lines += [*notes, ""] if notes else []
    lines.append("| " + " | ".join(names) + " |")
    lines.append("|" + "|".join("---:" for _ in names) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
