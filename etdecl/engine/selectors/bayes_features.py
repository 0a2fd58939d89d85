"""Ruder & Plank's (2017) per-example features for the `bayes` selector: how similar a source
example is to the target domain, and how diverse the example is on its own.

Why this shape: the selector scores thousands of examples over a word-piece vocabulary of tens
of thousands, so nothing here builds a dense [examples x vocabulary] array. Term distributions
are smoothed by mixing with the uniform distribution,

    p = (1 - SMOOTHING) * counts / length + SMOOTHING / V,

so every entry an example does not contain has the same value a = SMOOTHING / V (an example
without tokens is uniform, a = 1 / V). A sum over the vocabulary of an elementwise f(p, q)
then splits into the example's own word pieces plus one sum over the whole vocabulary shared by
every example:

    sum_v f(p_v, q_v) = sum_{v in example} [f(p_v, q_v) - f(a, q_v)] + sum_v f(a, q_v),

which is exact and costs O(non-zeros + V).

Orientation: every *similarity* feature is oriented so that larger = more similar to the
target. Divergences and distances are negated (`js_divergence`, `renyi_divergence`,
`euclidean`, `variational`, `bhattacharyya` are all ≤ 0, and 0 for an example whose term
distribution equals the target's); `term_cosine` and `embedding_cosine` are cosines as they
are. Diversity features (`types` .. `renyi_entropy`) describe the example alone, on its
unsmoothed counts, and keep their natural sign; the search's weights in [-1, 1] decide whether
more diversity helps. Logarithms are natural.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from etdecl.recipe.schema_selectors import ALL_BAYES_FEATURES

FEATURES: tuple[str, ...] = tuple(ALL_BAYES_FEATURES)
"""Every feature name, in the recipe's order."""

SIMILARITY: frozenset[str] = frozenset({
    "embedding_cosine", "js_divergence", "renyi_divergence", "term_cosine", "euclidean",
    "variational", "bhattacharyya",
})
"""Features that compare an example with the target (the rest are diversity features)."""

SMOOTHING = 1e-3
"""Share of probability mass spread uniformly over the vocabulary, so divergences stay finite."""

RENYI_ALPHA_DIVERGENCE = 0.99
RENYI_ALPHA_ENTROPY = 2.0

Elementwise = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _counts(tokens: Sequence[np.ndarray], vocab_size: int, what: str) -> sp.csr_matrix:
    """Word-piece counts [len(tokens), vocab_size], duplicates summed, indices sorted."""
    lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    cols = (np.concatenate([np.asarray(t, dtype=np.int64).ravel() for t in tokens])
            if len(tokens) else np.zeros(0, dtype=np.int64))
    if cols.size and (cols.min() < 0 or cols.max() >= vocab_size):
        bad = int(cols.min() if cols.min() < 0 else cols.max())
        raise ValueError(f"{what} tokens: id {bad} outside the vocabulary [0, {vocab_size})")
    rows = np.repeat(np.arange(len(tokens), dtype=np.int64), lengths)
    counts = sp.csr_matrix((np.ones(cols.size, dtype=np.float64), (rows, cols)),
                           shape=(len(tokens), vocab_size))
    counts.sum_duplicates()
    return counts


class _TermDistributions:
    """The smoothed term distributions of the source examples, stored sparsely, and the
    target's (dense); `total(f)` is sum_v f(p_v, q_v) per example."""

    def __init__(self, counts: sp.csr_matrix, target: np.ndarray) -> None:
        n, vocab = counts.shape
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        self.rows = np.repeat(np.arange(n), np.diff(counts.indptr))
        safe = np.where(lengths > 0, lengths, 1.0)
        self.p = (1.0 - SMOOTHING) * counts.data / safe[self.rows] + SMOOTHING / vocab
        self.q_nz = target[counts.indices]
        self.q = target
        self.n = n
        # the value of every entry an example lacks: smoothing alone, or uniform if empty
        self.absent = np.where(lengths > 0, SMOOTHING / vocab, 1.0 / vocab)

    def total(self, f: Elementwise) -> np.ndarray:
        own = f(self.p, self.q_nz) - f(self.absent[self.rows], self.q_nz)
        out = np.bincount(self.rows, weights=own, minlength=self.n)
        for a in np.unique(self.absent):
            out[self.absent == a] += float(np.sum(f(np.full_like(self.q, a), self.q)))
        return out


def _target_distribution(counts: sp.csr_matrix) -> np.ndarray:
    pooled = np.asarray(counts.sum(axis=0)).ravel()
    if pooled.sum() == 0:
        raise ValueError("target tokens: no word pieces to compare source examples with")
    vocab = counts.shape[1]
    return (1.0 - SMOOTHING) * pooled / pooled.sum() + SMOOTHING / vocab


def _js(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    m = 0.5 * (p + q)
    return 0.5 * (p * np.log(p / m) + q * np.log(q / m))


def _similarity(name: str, dist: _TermDistributions) -> np.ndarray:
    """One term-distribution similarity feature, oriented larger = more similar."""
    if name == "js_divergence":
        return -np.maximum(dist.total(_js), 0.0)
    if name == "renyi_divergence":
        a = RENYI_ALPHA_DIVERGENCE
        inner = dist.total(lambda p, q: p ** a * q ** (1.0 - a))
        return -np.maximum(np.log(inner) / (a - 1.0), 0.0)
    if name == "term_cosine":
        dot = dist.total(lambda p, q: p * q)
        norm_p = np.sqrt(dist.total(lambda p, q: p * p))
        return dot / (norm_p * np.linalg.norm(dist.q))
    if name == "euclidean":
        return -np.sqrt(np.maximum(dist.total(lambda p, q: (p - q) ** 2), 0.0))
    if name == "variational":
        return -dist.total(lambda p, q: np.abs(p - q))
    if name == "bhattacharyya":
        coefficient = dist.total(lambda p, q: np.sqrt(p * q))
        return np.minimum(np.log(coefficient), 0.0)
    raise AssertionError(name)


def _diversity(name: str, counts: sp.csr_matrix) -> np.ndarray:
    """One diversity feature of each example's own (unsmoothed) word pieces; an example
    without tokens gets 0."""
    n = counts.shape[0]
    lengths = np.asarray(counts.sum(axis=1)).ravel()
    types = np.diff(counts.indptr).astype(np.float64)
    if name == "types":
        return types
    if name == "type_token_ratio":
        return np.divide(types, lengths, out=np.zeros(n), where=lengths > 0)
    rows = np.repeat(np.arange(n), np.diff(counts.indptr))
    p = counts.data / lengths[rows]
    if name == "entropy":
        return -np.bincount(rows, weights=p * np.log(p), minlength=n)
    simpson = np.bincount(rows, weights=p * p, minlength=n)
    if name == "simpson":
        return simpson
    if name == "renyi_entropy":
        a = RENYI_ALPHA_ENTROPY
        power = np.bincount(rows, weights=p ** a, minlength=n)
        return np.divide(np.log(power, out=np.zeros(n), where=power > 0), 1.0 - a)
    raise AssertionError(name)


def _embedding_cosine(source_pooled: np.ndarray, target_pooled: np.ndarray) -> np.ndarray:
    centroid = np.asarray(target_pooled, dtype=np.float64).mean(axis=0)
    x = np.asarray(source_pooled, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1) * np.linalg.norm(centroid)
    return np.divide(x @ centroid, norms, out=np.zeros(len(x)), where=norms > 0)


def feature_matrix(names: Sequence[str], source_tokens: Sequence[np.ndarray],
                   target_tokens: Sequence[np.ndarray], vocab_size: int,
                   source_pooled: np.ndarray | None, target_pooled: np.ndarray | None,
                   ) -> np.ndarray:
    """Features `names` (from FEATURES) of every source example: float64 [n_source, len(names)].

    `source_tokens` / `target_tokens`: one 1-D int array of word-piece ids per example (special
    tokens and padding removed); the target's examples are pooled into one distribution.
    `*_pooled`: the examples' pooled encoder features [n, h] (needed for `embedding_cosine`
    only). Similarity features are oriented larger = more similar (see the module docstring).
    """
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ValueError(f"unknown bayes features {unknown}; known: {list(FEATURES)}")
    n_source = len(source_tokens)
    out = np.empty((n_source, len(names)), dtype=np.float64)
    source_counts = _counts(source_tokens, vocab_size, "source")
    dist: _TermDistributions | None = None
    for j, name in enumerate(names):
        if name == "embedding_cosine":
            if source_pooled is None or target_pooled is None:
                raise ValueError("embedding_cosine needs the source and target pooled features")
            if len(source_pooled) != n_source or len(target_pooled) == 0:
                raise ValueError(f"pooled features: {len(source_pooled)} source rows for "
                                 f"{n_source} examples, {len(target_pooled)} target rows")
            out[:, j] = _embedding_cosine(source_pooled, target_pooled)
        elif name in SIMILARITY:
            if dist is None:
                target = _target_distribution(_counts(target_tokens, vocab_size, "target"))
                dist = _TermDistributions(source_counts, target)
            out[:, j] = _similarity(name, dist)
        else:
            out[:, j] = _diversity(name, source_counts)
    return out


def standardise(x: np.ndarray) -> np.ndarray:
    """Z-score each column of a 2-D array (population std); a constant column (up to rounding
    noise) becomes 0, so it cannot sway a weighted sum."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    constant = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
    z = (x - mean) / np.where(constant, 1.0, std)
    z[:, constant] = 0.0
    return z
