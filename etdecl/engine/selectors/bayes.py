"""`bayes` (Ruder & Plank 2017): choose the source examples to train on before training.

Every judged source example gets similarity features to the target domain (its pooled features
from the model as it starts, and its word-piece distribution against the target's) and
diversity features of its own (`bayes_features.py`); a weight vector over them is tuned by
Bayesian optimisation (optuna's TPE) on the target dev accuracy of a fast proxy model, logistic
regression on the pooled features (`bayes_search.py`); the run then trains on the `keep`
best-scoring examples (plus every row the selector does not judge). The choice is written to the
selection log as one episode (`prob`: the example's score rank, 1 = best), and a resumed run
reads it back instead of searching again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .base import Scope, Selector
from .records import read_log


class FeatureSource(Protocol):
    """What the trainer provides: the model's pooled features, word pieces and labels of the
    chosen rows of a dataset (train or dev), and the datasets themselves."""

    def rows(self, split: str, dataset: int | None, domain: int) -> list[tuple[int, np.ndarray]]:
        """(dataset id, feature rows) of `split` whose domain is `domain` (any dataset when
        `dataset` is None)."""
        ...

    def domains(self, split: str, dataset: int) -> np.ndarray: ...

    def pooled(self, split: str, dataset: int, rows: np.ndarray) -> np.ndarray: ...

    def tokens(self, split: str, dataset: int, rows: np.ndarray) -> list[np.ndarray]: ...

    def labels(self, split: str, dataset: int, rows: np.ndarray) -> np.ndarray: ...

    vocab_size: int

    def progress(self, total: int, label: str) -> Any: ...


def keep_count(keep: float, n: int) -> int:
    """`keep` as a count: a share of `n` (≤ 1) or a number of examples (> 1), at least 1."""
    count = round(keep * n) if keep <= 1 else int(keep)
    return max(1, min(n, count))


class BayesSelector(Selector):
    def __init__(self, cfg: Any, scope: Scope, run_dir: Path, is_main: bool, seed: int) -> None:
        super().__init__(cfg, scope, run_dir, is_main, seed if cfg.seed is None else cfg.seed)
        self.result: Any = None
        self.kept_rows: np.ndarray | None = None
        self.judged = 0
        self.restored = False

    def restrict(self, src: FeatureSource, resume: bool = False) -> np.ndarray | None:
        sc = self.scope
        domains = src.domains("train", sc.source_id)
        judged_mask = np.isin(domains, sc.domain_ids)
        judged = np.flatnonzero(judged_mask)
        untouched = np.flatnonzero(~judged_mask)
        self.judged = len(judged)
        if len(judged) == 0:
            return None
        if resume:
            records = read_log(self.log.path) if self.log.path.is_file() else []
            if not records:
                raise ValueError(f"selector {sc.name}: --resume needs the choice this run made, "
                                 f"and {self.log.path} is missing or empty; searching again "
                                 "would score another model (start the run afresh)")
            record = records[0]
            chosen = np.asarray([i for i, k in zip(record["index"], record["kept"], strict=True)
                                 if k], dtype=np.int64)
            self.restored = True
        else:
            chosen = self._search(src, judged)
        self.kept_rows = np.sort(np.concatenate([untouched, chosen]))
        return self.kept_rows

    def _search(self, src: FeatureSource, judged: np.ndarray) -> np.ndarray:
        from .bayes_features import feature_matrix
        from .bayes_search import search

        sc = self.scope
        target = src.rows("train", None, sc.target_id)
        dev = src.rows("dev", None, sc.target_id)
        if not target or not dev:
            raise ValueError(f"selector {sc.name}: no training or dev rows of the target "
                             f"domain '{sc.domain_names[sc.target_id]}'")

        def gather(split: str, parts: list[tuple[int, np.ndarray]], what: str) -> Any:
            got = [getattr(src, what)(split, d, r) for d, r in parts]
            return [t for g in got for t in g] if what == "tokens" else np.concatenate(got)

        source_part = [(sc.source_id, judged)]
        s_pooled = gather("train", source_part, "pooled")
        t_pooled = gather("train", target, "pooled")
        features = feature_matrix(self.cfg.features, gather("train", source_part, "tokens"),
                                  gather("train", target, "tokens"), src.vocab_size,
                                  s_pooled, t_pooled)
        n_keep = keep_count(self.cfg.keep, len(judged))
        bar = src.progress(self.cfg.trials, f"selector {sc.name}: Bayesian optimisation")
        self.result = search(features, n_keep, s_pooled, gather("train", source_part, "labels"),
                             t_pooled, gather("train", target, "labels"),
                             gather("dev", dev, "pooled"), gather("dev", dev, "labels"),
                             self.cfg.trials, self.seed, progress=bar,
                             names=list(self.cfg.features))
        chosen = judged[self.result.kept]
        order = np.argsort(-self.result.scores, kind="stable")
        rank = np.empty(len(order), dtype=np.float64)
        rank[order] = 1.0 - np.arange(len(order)) / max(1, len(order) - 1)
        kept = np.zeros(len(judged), dtype=np.int64)
        kept[self.result.kept] = 1
        domains = src.domains("train", sc.source_id)[judged]
        self.log.reset()
        self.log.write({"selector": sc.name, "type": "bayes", "episode": 0, "step": 0,
                        "metric": self.result.best_accuracy, "reward": None, "baseline": None,
                        "weights": self.result.weights,
                        "reference": {"all_source": self.result.all_accuracy,
                                      "target_only": self.result.target_accuracy},
                        "index": judged.tolist(), "domain": sc.names_np(domains),
                        "prob": [round(float(r), 4) for r in rank], "kept": kept.tolist()})
        return chosen

    def on_resume(self, step: int) -> None:
        """The one episode is the choice itself: keep it."""

    def on_fresh_start(self) -> None:
        """`_search` rewrites the log."""

    def summary(self) -> list[tuple[str, str]]:
        name = self.scope.name
        if self.kept_rows is None:
            return [(f"selector {name}", "bayes: nothing to judge")]
        n_keep = keep_count(self.cfg.keep, self.judged)
        rows = [(f"selector {name}", f"bayes: trained on {n_keep} of {self.judged} source "
                 "examples" + (" (restored from the log)" if self.restored else ""))]
        r = self.result
        if r is not None:
            rows.append((f"selector {name} proxy dev accuracy",
                         f"{r.best_accuracy:.4f} selected; {r.all_accuracy:.4f} all source; "
                         f"{r.target_accuracy:.4f} target only"))
            top = sorted(r.weights.items(), key=lambda kv: -abs(kv[1]))[:4]
            rows.append((f"selector {name} weights", ", ".join(f"{k} {v:+.2f}" for k, v in top)))
        return rows
