"""The Bayesian optimisation of Ruder & Plank (2017) behind the `bayes` selector: which
weighting of the per-example features picks the source examples that help the target most?

Each trial proposes one weight per feature in [-1, 1] (optuna's TPE, seeded), scores every
source example by `standardise(features) @ w`, keeps the top `keep_n` (ties broken by index,
lower first) and fits a fast proxy model, a logistic regression on the encoder's pooled
features of the kept examples plus the target's training examples; the trial's value is the
proxy's accuracy on the target dev set. Running the real model per trial would cost a training
run each; the proxy keeps a trial to a second or so.

The first trial is always the plain "most similar to the target" point (equal weights on the
similarity features, 0 on diversity), so the search never ends below that sensible baseline.
Two reference accuracies are computed once: the proxy on all source + target, and on target
alone.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .bayes_features import FEATURES, SIMILARITY, standardise

PROXY_MAX_ITER = 500
PROXY_SEED = 0


@dataclass
class SearchResult:
    """The best weighting found, the selection it makes and how the search went."""

    weights: dict[str, float]
    """Feature name → weight of the best trial."""
    scores: np.ndarray
    """Every source example's score under the best weights."""
    kept: np.ndarray
    """Indices (into the source examples) of the top `keep_n` scores, sorted."""
    best_accuracy: float
    """Target dev accuracy of the proxy trained on the kept examples + target."""
    all_accuracy: float
    """Reference: the proxy trained on all source examples + target."""
    target_accuracy: float
    """Reference: the proxy trained on the target examples alone."""
    history: list[tuple[int, float]] = field(default_factory=list)
    """(trial number, dev accuracy) of every trial, in order."""


def top_indices(scores: np.ndarray, keep_n: int) -> np.ndarray:
    """Sorted indices of the `keep_n` highest scores; equal scores prefer the lower index."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return np.sort(order[:keep_n])


def proxy_accuracy(x: np.ndarray, y: np.ndarray, dev_x: np.ndarray, dev_y: np.ndarray) -> float:
    """Dev accuracy of a logistic regression on (x, y); with one class it predicts that class,
    with no rows it is NaN."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(y)
    dev_y = np.asarray(dev_y)
    if len(y) == 0 or len(dev_y) == 0:
        return float("nan")
    classes = np.unique(y)
    if len(classes) == 1:
        return float(np.mean(dev_y == classes[0]))
    model = make_pipeline(StandardScaler(),
                          LogisticRegression(max_iter=PROXY_MAX_ITER, random_state=PROXY_SEED))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    return float(np.mean(model.predict(dev_x) == dev_y))


@contextmanager
def _quiet_optuna() -> Any:
    """Silence optuna's per-trial log lines and experimental warnings, then restore them."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield optuna
    finally:
        optuna.logging.set_verbosity(level)


def _feature_names(features: np.ndarray, names: Sequence[str] | None) -> list[str]:
    if names is not None:
        if len(names) != features.shape[1]:
            raise ValueError(f"{len(names)} feature names for {features.shape[1]} columns")
        return list(names)
    if features.shape[1] == len(FEATURES):
        return list(FEATURES)
    raise ValueError(f"{features.shape[1]} feature columns: pass their names (names=...)")


def _first_point(names: list[str]) -> dict[str, float]:
    """Equal weights on the similarity features (all features if there is none)."""
    similar = [n for n in names if n in SIMILARITY] or names
    return {n: (1.0 / len(similar) if n in similar else 0.0) for n in names}


def search(features: np.ndarray | Mapping[str, np.ndarray], keep_n: int,
           source_x: np.ndarray, source_y: np.ndarray,
           target_x: np.ndarray, target_y: np.ndarray,
           dev_x: np.ndarray, dev_y: np.ndarray,
           trials: int, seed: int | None,
           progress: Callable[[int, float], Any] | None = None,
           *, names: Sequence[str] | None = None) -> SearchResult:
    """Tune the feature weights by TPE over `trials` trials; see the module docstring.

    `features`: the raw feature matrix [n_source, k] (its column names in `names`, by default
    FEATURES when k matches) or a mapping name → column. `*_x`: pooled encoder features,
    `*_y`: integer labels. `progress(trial, best)` is called after each trial with the trial's
    number (from 0) and the best dev accuracy so far.
    """
    if isinstance(features, Mapping):
        names = list(features)
        features = np.column_stack([np.asarray(features[n], dtype=np.float64) for n in names])
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be [n_source, k], got shape {features.shape}")
    cols = _feature_names(features, names)
    n_source = len(features)
    if len(source_x) != n_source or len(source_y) != n_source:
        raise ValueError(f"{n_source} feature rows but {len(source_x)} source features and "
                         f"{len(source_y)} labels")
    if not 1 <= keep_n <= n_source:
        raise ValueError(f"keep_n={keep_n} outside [1, {n_source}]")
    if len(dev_y) == 0:
        raise ValueError("no target dev examples to score the proxy model on")
    z = standardise(features)
    source_x, target_x = np.asarray(source_x), np.asarray(target_x)
    source_y, target_y = np.asarray(source_y), np.asarray(target_y)

    def accuracy_of(kept: np.ndarray) -> float:
        x = np.concatenate([source_x[kept], target_x]) if len(target_x) else source_x[kept]
        y = np.concatenate([source_y[kept], target_y]) if len(target_y) else source_y[kept]
        return proxy_accuracy(x, y, dev_x, dev_y)

    all_accuracy = accuracy_of(np.arange(n_source))
    target_accuracy = proxy_accuracy(target_x, target_y, dev_x, dev_y)

    seen: dict[bytes, float] = {}
    history: list[tuple[int, float]] = []

    def objective(trial: Any) -> float:
        w = np.array([trial.suggest_float(n, -1.0, 1.0) for n in cols])
        kept = top_indices(z @ w, keep_n)
        key = kept.tobytes()
        if key not in seen:
            seen[key] = accuracy_of(kept)
        history.append((trial.number, seen[key]))
        return seen[key]

    def report(study: Any, trial: Any) -> None:
        if progress is not None:
            progress(trial.number, study.best_value)

    with _quiet_optuna() as optuna:
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.enqueue_trial(_first_point(cols))
        study.optimize(objective, n_trials=trials, callbacks=[report])
        best = study.best_trial

    weights = {n: float(best.params[n]) for n in cols}
    scores = z @ np.array([weights[n] for n in cols])
    return SearchResult(weights=weights, scores=scores, kept=top_indices(scores, keep_n),
                        best_accuracy=float(best.value), all_accuracy=all_accuracy,
                        target_accuracy=target_accuracy, history=history)
