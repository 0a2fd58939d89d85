"""The CRF against brute force: every tag path of tiny inputs enumerated."""

import itertools

import pytest
import torch

from etdecl.tasks.crf import CRF


def _path_score(crf: CRF, em: torch.Tensor, path: tuple[int, ...]) -> torch.Tensor:
    trans, start = crf._scores()
    s = start[path[0]] + em[0, path[0]]
    for t in range(1, len(path)):
        s = s + trans[path[t - 1], path[t]] + em[t, path[t]]
    return s + crf.end[path[-1]]


@pytest.mark.parametrize("seed", range(5))
def test_likelihood_and_viterbi_match_brute_force(seed: int) -> None:
    torch.manual_seed(seed)
    k, steps, lengths = 3, 4, [4, 2, 1]
    crf = CRF(k)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    em = torch.randn(len(lengths), steps, k)
    mask = torch.tensor([[1] * n + [0] * (steps - n) for n in lengths])
    tags = torch.randint(0, k, (len(lengths), steps))
    ll = crf.log_likelihood(em, tags, mask)
    decoded = crf.decode(em, mask)
    for b, n in enumerate(lengths):
        paths = list(itertools.product(range(k), repeat=n))
        scores = torch.stack([_path_score(crf, em[b], p) for p in paths])
        gold = _path_score(crf, em[b], tuple(tags[b, :n].tolist()))
        assert torch.allclose(ll[b], gold - torch.logsumexp(scores, 0), atol=1e-5)
        assert tuple(decoded[b]) == paths[int(scores.argmax())]


def test_forbidden_transitions_never_decoded() -> None:
    torch.manual_seed(0)
    allowed = torch.ones(3, 3, dtype=torch.bool)
    allowed[0, 2] = False  # tag 0 may never be followed by tag 2
    crf = CRF(3, allowed=allowed, allowed_start=torch.tensor([True, True, False]))
    em = torch.zeros(1, 3, 3)
    em[0, :, 2] = 5.0
    em[0, 0, 0] = 20.0
    path = crf.decode(em, torch.ones(1, 3))[0]
    assert path[0] == 0 and path[1] != 2


def test_training_fits_a_tag_sequence() -> None:
    torch.manual_seed(0)
    crf = CRF(4)
    em = torch.zeros(2, 5, 4, requires_grad=True)
    tags = torch.tensor([[0, 1, 2, 3, 0], [3, 2, 1, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    opt = torch.optim.Adam([em, *crf.parameters()], lr=0.3)
    first = None
    for _ in range(60):
        loss = crf(em, tags, mask).mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.1 * first
    assert crf.decode(em, mask) == [[0, 1, 2, 3, 0], [3, 2, 1, 0]]
