"""The AdaBERT cells without training: Gumbel-softmax weights are differentiable and anneal,
the efficiency loss prefers cheaper ops, the derived architecture is the argmax of the
architecture weights, derived cells build only their kept ops, padding never leaks, and the
architecture round-trips through its recipe fragment."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from etdecl.components.adabert import AdaBERTCells, anneal
from etdecl.recipe.adabert_space import (
    OPS,
    GenotypeError,
    as_genotype,
    check_genotype,
    edges_per_cell,
    fragment_text,
    genotype_cost,
    load_architecture,
    node_offsets,
    op_cost,
)

HIDDEN = 8


def cells(genotype=None, nodes: int = 3, ops=OPS, seed: int = 0) -> AdaBERTCells:
    torch.manual_seed(seed)
    emb = nn.Embedding(50, 6, padding_idx=0)
    return AdaBERTCells(emb, cells=2, nodes=nodes, hidden=HIDDEN, ops=list(ops), dropout=0.0,
                        genotype=genotype)


def batch(n: int = 4, t: int = 7):
    torch.manual_seed(1)
    ids = torch.randint(1, 50, (n, t))
    mask = torch.ones(n, t, dtype=torch.long)
    mask[0, 4:] = 0
    ids[0, 4:] = 0
    return ids, mask


def test_gumbel_weights_are_differentiable_through_the_encoder() -> None:
    enc = cells()
    enc.train()
    ids, mask = batch()
    out = enc(ids, mask)
    out.pooled.pow(2).sum().backward()
    grad = enc.arch_alpha.grad
    assert grad is not None and grad.shape == (edges_per_cell(3), len(OPS))
    assert float(grad.abs().sum()) > 0
    assert torch.isfinite(grad).all()


def test_training_samples_are_noisy_and_eval_weights_are_the_softmax() -> None:
    enc = cells()
    enc.train()
    a, b = enc.edge_weights(), enc.edge_weights()
    assert not torch.allclose(a, b)  # Gumbel noise
    assert torch.allclose(a.sum(-1), torch.ones(a.shape[0]))
    enc.eval()
    assert torch.equal(enc.edge_weights(), torch.softmax(enc.arch_alpha.float(), -1))


def test_temperature_anneals_geometrically_and_sharpens_the_samples() -> None:
    assert anneal(1.0, 0.1, 0.0) == pytest.approx(1.0)
    assert anneal(1.0, 0.1, 1.0) == pytest.approx(0.1)
    assert anneal(1.0, 0.1, 0.5) == pytest.approx(0.1 ** 0.5)
    taus = [anneal(2.0, 0.05, p / 10) for p in range(11)]
    assert all(x > y for x, y in zip(taus, taus[1:], strict=False))
    enc = cells()
    enc.train()
    torch.manual_seed(5)
    enc.tau = 5.0
    hot = enc.edge_weights().detach().max(-1).values.mean()
    enc.tau = 0.05
    cold = enc.edge_weights().detach().max(-1).values.mean()
    assert float(hot) < 0.3 < 0.9 < float(cold)


def test_op_costs_order_the_ops() -> None:
    cost = {o: op_cost(o, 64) for o in OPS}
    assert cost["cnn7"] == pytest.approx(1.0)
    assert cost["cnn7"] > cost["cnn5"] > cost["cnn3"] > cost["maxpool3"] > cost["identity"]
    assert cost["cnn3"] == cost["dilcnn3"]
    assert cost["identity"] == cost["zero"] == 0.0


def test_efficiency_loss_prefers_cheaper_ops_when_the_task_loss_is_equal() -> None:
    """Same task loss for every architecture (here: none), so only the cost moves the
    architecture weights: the costliest ops lose weight and the derived ops are free ones."""
    enc = cells()
    probs0 = torch.softmax(enc.arch_alpha.detach(), -1)
    opt = torch.optim.Adam([enc.arch_alpha], lr=0.1)
    costs = []
    for _ in range(30):
        opt.zero_grad()
        cost = enc.expected_cost()
        costs.append(float(cost))
        cost.backward()
        opt.step()
    probs = torch.softmax(enc.arch_alpha.detach(), -1)
    i7, iid = OPS.index("cnn7"), OPS.index("identity")
    assert costs[-1] < 0.5 * costs[0]
    assert (probs[:, i7] < probs0[:, i7]).all()
    assert (probs[:, iid] > probs0[:, iid]).all()
    assert {op for node in enc.derive(2) for _, op in node} <= {"identity"}


def test_efficiency_gradient_on_equal_task_losses_points_to_cheaper_ops() -> None:
    """With the task loss's gradient held equal, the efficiency term pushes down exactly the
    ops that cost more than the edge's expected cost, and lifts the cheaper ones."""
    enc = cells()
    grad = torch.autograd.grad(0.1 * enc.expected_cost(), enc.arch_alpha)[0]
    probs = torch.softmax(enc.arch_alpha.detach(), -1)
    costs = torch.tensor([op_cost(o, HIDDEN) for o in OPS])
    expected = (probs * costs).sum(-1, keepdim=True)
    assert torch.equal(torch.sign(grad), torch.sign(costs - expected))
    assert (grad[:, OPS.index("cnn7")] > 0).all() and (grad[:, OPS.index("identity")] < 0).all()


def test_derived_architecture_is_the_argmax_of_the_weights() -> None:
    enc = cells(nodes=3)
    with torch.no_grad():
        enc.arch_alpha.zero_()
        offs = node_offsets(3)
        # node 0 (inputs 0, 1): cnn5 on input 1 strongest, then maxpool3 on input 0
        enc.arch_alpha[offs[0] + 1, OPS.index("cnn5")] = 5.0
        enc.arch_alpha[offs[0] + 0, OPS.index("maxpool3")] = 3.0
        # node 1 (inputs 0..2): zero wins on input 2 but zero is never derived: its best
        # non-zero op there (dilcnn3) is weaker than the others
        enc.arch_alpha[offs[1] + 2, OPS.index("zero")] = 9.0
        enc.arch_alpha[offs[1] + 2, OPS.index("dilcnn3")] = 1.0
        enc.arch_alpha[offs[1] + 0, OPS.index("avgpool3")] = 4.0
        enc.arch_alpha[offs[1] + 1, OPS.index("cnn7")] = 4.5
        # node 2 (inputs 0..3): identity on node 1 (input 3), cnn3 on node 0 (input 2)
        enc.arch_alpha[offs[2] + 3, OPS.index("identity")] = 6.0
        enc.arch_alpha[offs[2] + 2, OPS.index("cnn3")] = 2.0
    assert enc.derive(2) == [[(0, "maxpool3"), (1, "cnn5")],
                             [(0, "avgpool3"), (1, "cnn7")],
                             [(2, "cnn3"), (3, "identity")]]
    assert enc.derive(1) == [[(1, "cnn5")], [(1, "cnn7")], [(3, "identity")]]
    # and in general: each kept edge's op is its row's argmax over the non-zero ops
    torch.manual_seed(0)
    with torch.no_grad():
        enc.arch_alpha.normal_()
    live = [k for k, o in enumerate(OPS) if o != "zero"]
    for j, node in enumerate(enc.derive(2)):
        for i, op in node:
            row = enc.arch_alpha[node_offsets(3)[j] + i, live]
            assert op == OPS[live[int(row.argmax())]]


def test_derived_cells_build_only_their_kept_ops() -> None:
    genotype = [[(0, "cnn3"), (1, "maxpool3")], [(1, "identity"), (2, "dilcnn5")]]
    enc = cells(genotype)
    assert not enc.searching and not hasattr(enc, "arch_alpha")
    conv = sum(p.numel() for n, p in enc.named_parameters() if ".kept." in n)
    params, _ = genotype_cost(genotype, HIDDEN)
    assert conv == 2 * params  # two cells
    assert enc.cell_cost()[0] == 2 * params
    ids, mask = batch()
    out = enc(ids, mask)
    assert out.pooled.shape == (4, HIDDEN) and out.tokens.shape == (4, 7, HIDDEN)


@pytest.mark.parametrize("genotype", [None, [[(0, "cnn7"), (1, "maxpool3")],
                                             [(1, "avgpool3"), (2, "dilcnn7")],
                                             [(3, "cnn5"), (0, "identity")]]])
def test_padding_never_changes_the_real_tokens(genotype) -> None:
    enc = cells(genotype)
    enc.eval()
    ids, mask = batch()
    ids2 = ids.clone()
    ids2[0, 4:] = 7  # other content under the padding
    a, b = enc(ids, mask), enc(ids2, mask)
    assert torch.allclose(a.pooled, b.pooled, atol=1e-6)
    assert torch.allclose(a.tokens[0, :4], b.tokens[0, :4], atol=1e-6)
    assert float(a.tokens[0, 4:].abs().sum()) == 0.0


def test_genotype_errors_name_the_node_and_edge() -> None:
    with pytest.raises(GenotypeError) as err:
        check_genotype([[(0, "cnn3")], [(1, "cnn3"), (3, "cnn5")]])
    assert (err.value.node, err.value.edge) == (1, 1)
    assert "input 3 does not exist" in str(err.value)
    with pytest.raises(GenotypeError) as err:
        check_genotype([[(0, "cnn3"), (0, "cnn5")]])
    assert "read twice" in str(err.value)
    with pytest.raises(GenotypeError) as err:
        as_genotype([[{"input": 0, "op": "cnn3"}], [{"input": "x", "op": "cnn3"}]])
    assert (err.value.node, err.value.edge) == (1, 0)


def test_fragment_round_trips(tmp_path) -> None:
    genotype = [[(0, "cnn3"), (1, "maxpool3")], [(1, "identity"), (2, "dilcnn5")]]
    text = fragment_text("student", genotype, ["found at step 7"])
    path = tmp_path / "architecture.yaml"
    path.write_text(text)
    assert load_architecture(path, "student") == genotype
    assert load_architecture(path) == genotype
    assert text.startswith("# found at step 7\nencoders:\n  student:\n    architecture:\n")
