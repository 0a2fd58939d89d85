"""TextCNN and BiLSTM: shapes, padding invariance, copied embeddings, and a loss that falls."""

import pytest
import torch
from torch import nn

from etdecl.components.small_encoders import BiLSTM, TextCNN, make_embedding


def _encoders(vocab: int = 50, dim: int = 16):
    torch.manual_seed(0)
    return {
        "textcnn": TextCNN(make_embedding(vocab, dim, 0, None, False), [3, 5], 8, 0.0),
        "bilstm": BiLSTM(make_embedding(vocab, dim, 0, None, False), 12, 1, 0.0),
    }


@pytest.mark.parametrize("kind", ["textcnn", "bilstm"])
def test_outputs_and_padding_invariance(kind: str) -> None:
    enc = _encoders()[kind].eval()
    ids = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]])
    mask = (ids != 0).long()
    out = enc(ids, mask)
    assert out.pooled.shape == (2, enc.hidden_size)
    assert out.tokens.shape == (2, 5, enc.hidden_size)
    # padding more must not change the first example's pooled vector
    wider = torch.cat([ids, torch.zeros(2, 3, dtype=torch.long)], 1)
    again = enc(wider, (wider != 0).long())
    assert torch.allclose(out.pooled[0], again.pooled[0], atol=1e-5)


def test_embeddings_copied_and_frozen() -> None:
    weights = torch.randn(30, 8)
    emb = make_embedding(30, 8, 0, weights, freeze=True)
    assert torch.equal(emb.weight, weights) and not emb.weight.requires_grad
    with pytest.raises(ValueError, match=r"expected \(30, 9\)"):
        make_embedding(30, 9, 0, weights, freeze=False)


@pytest.mark.parametrize("kind", ["textcnn", "bilstm"])
def test_learns_a_keyword_rule(kind: str) -> None:
    enc = _encoders()[kind]
    head = nn.Linear(enc.hidden_size, 2)
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 50, (64, 10), generator=gen)
    labels = (ids == 7).any(1).long()
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=1e-2)
    losses = []
    for _ in range(40):
        loss = nn.functional.cross_entropy(head(enc(ids, torch.ones_like(ids)).pooled), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
