"""Typicality weights favour prototypical examples, for MetaFT's meta-teacher (class prototypes
across domains) and for MetaDTL (class prototypes across tasks): on synthetic features of two
clusters per task or domain plus outliers in random directions, every outlier weighs less than
every clustered example, whatever the mix."""

from __future__ import annotations

import pytest
import torch

from etdecl.engine.methods.prototypes import (
    Prototypes,
    task_typicality_scores,
    to_weights,
    typicality,
)

WIDTH = 16


def _centres(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, WIDTH, generator=g) * 3


def _noise(n: int, scale: float, g: torch.Generator) -> torch.Tensor:
    return scale * torch.randn(n, WIDTH, generator=g)


def domain_set(n_per: int = 20, n_out: int = 6, seed: int = 0):
    """MetaFT: class y of domain d sits near centre[y] + a small shift of d; outliers point in
    random directions. (features, labels, domains, is_outlier)."""
    g = torch.Generator().manual_seed(seed + 1)
    centre, shift = _centres(seed), torch.randn(2, WIDTH, generator=g) * 0.5
    feats, labels, domains, out = [], [], [], []
    for y in range(2):
        for d in range(2):
            feats.append(centre[y] + shift[d] + _noise(n_per, 0.3, g))
            labels += [y] * n_per
            domains += [d] * n_per
            out += [False] * n_per
    feats.append(_noise(n_out, 3.0, g))
    labels += [i % 2 for i in range(n_out)]
    domains += [(i // 2) % 2 for i in range(n_out)]
    out += [True] * n_out
    return torch.cat(feats), torch.tensor(labels), torch.tensor(domains), torch.tensor(out)


def task_set(n_per: int = 20, n_out: int = 6, seed: int = 0):
    """MetaDTL: task 0 has classes 0, 1 and task 1 classes 2, 3 (one shared index space);
    task 1's classes lie near task 0's (related tasks: sentiment and NLI share features), each
    cluster with its own offset; outliers of both tasks point in random directions.
    (features, classes, tasks, is_outlier)."""
    g = torch.Generator().manual_seed(seed + 1)
    centre = _centres(seed)
    feats, classes, tasks, out = [], [], [], []
    for t in range(2):
        for y in range(2):
            offset = torch.randn(WIDTH, generator=g) * 0.6
            feats.append(centre[y] + offset + _noise(n_per, 0.3, g))
            classes += [2 * t + y] * n_per
            tasks += [t] * n_per
            out += [False] * n_per
    feats.append(_noise(n_out, 3.0, g))
    classes += [2 * (i % 2) + (i // 2) % 2 for i in range(n_out)]
    tasks += [i % 2 for i in range(n_out)]
    out += [True] * n_out
    return torch.cat(feats), torch.tensor(classes), torch.tensor(tasks), torch.tensor(out)


TASK_OF_CLASS = torch.tensor([0, 0, 1, 1])


def _task_protos(h: torch.Tensor, c: torch.Tensor, n_classes: int = 4) -> Prototypes:
    p = Prototypes(n_classes, 1)
    p.update(h, c, torch.zeros_like(c))
    return p


@pytest.mark.parametrize("mix", [0.0, 0.5, 1.0])
def test_meta_teacher_weights_favour_prototypical_examples(mix):
    h, y, d, out = domain_set()
    protos = Prototypes(2, 2)
    protos.update(h, y, d)
    w = typicality(h, y, d, protos, mix)
    assert torch.all(w > 0) and w.mean().item() == pytest.approx(1.0, abs=1e-5)
    assert w[out].max() < w[~out].min(), (w[out], w[~out].min())


@pytest.mark.parametrize("mix", [0.0, 0.5, 1.0])
def test_meta_dtl_weights_favour_prototypical_examples(mix):
    h, c, t, out = task_set()
    scores, valid = task_typicality_scores(h, c, t, _task_protos(h, c), TASK_OF_CLASS, mix)
    assert bool(valid.all())
    w = to_weights(scores, valid)
    assert torch.all(w > 0) and w.mean().item() == pytest.approx(1.0, abs=1e-5)
    assert w[out].max() < w[~out].min(), (w[out], w[~out].min())


def test_meta_dtl_other_task_term_is_the_closest_class_of_another_task():
    """The relation term takes the best-matching class of the *other* tasks only: a class of
    the example's own task never counts, however close."""
    e = torch.eye(3)
    protos = _task_protos(torch.stack([e[0], e[1], e[2]]), torch.tensor([0, 1, 2]), 3)
    task_of_class = torch.tensor([0, 0, 1])  # classes 0, 1: task 0; class 2: task 1
    h = torch.stack([e[0], e[0] + e[1], e[0] + e[2]])  # all of task 0, class 0
    c, t = torch.tensor([0, 0, 0]), torch.tensor([0, 0, 0])
    own, _ = task_typicality_scores(h, c, t, protos, task_of_class, 1.0)
    other, _ = task_typicality_scores(h, c, t, protos, task_of_class, 0.0)
    r = 2 ** -0.5
    assert own.tolist() == pytest.approx([1.0, r, r])
    assert other.tolist() == pytest.approx([0.0, 0.0, r])  # class 1 (own task) is ignored
    half, _ = task_typicality_scores(h, c, t, protos, task_of_class, 0.5)
    assert half.tolist() == pytest.approx([0.5, r / 2, r])


def test_meta_dtl_falls_back_to_the_term_it_has():
    """Before another task's prototype exists the own term stands alone (and the reverse); a
    row without a class has no score and keeps weight 1."""
    e = torch.eye(2)
    only_task0 = _task_protos(e[:1], torch.tensor([0]))
    h = torch.stack([e[0], e[0], e[1]])
    c, t = torch.tensor([0, 2, -1]), torch.tensor([0, 1, 1])
    scores, valid = task_typicality_scores(h, c, t, only_task0, torch.tensor([0, 0, 1, 1]), 0.5)
    assert valid.tolist() == [True, True, False]
    assert scores[:2].tolist() == pytest.approx([1.0, 1.0])  # own alone; other-task alone
    assert to_weights(scores, valid)[2].item() == 1.0
    empty = Prototypes(4, 1)
    assert not bool(task_typicality_scores(h, c, t, empty, TASK_OF_CLASS, 0.5)[1].any())
