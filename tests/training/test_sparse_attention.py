"""Random sparse attention: the block pattern is what the recipe declares, the sparse kernel
computes exactly dense attention restricted to that pattern (padding included), selecting every
block gives the model's own dense attention, gradients flow, and a recipe with rsa trains."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from training_support import TINY_ENCODER, read_metrics, run_cli

from etdecl.components.sparse_attention import (
    RSASelfAttention,
    block_pattern,
    install_rsa,
    local_blocks,
    pattern_mask,
    rsa_attention,
)

PATTERNS = [  # (n_blocks, heads, local, random)
    (8, 4, 3, 2), (8, 4, 1, 0), (16, 2, 3, 5), (5, 3, 2, 3), (6, 4, 3, 10), (1, 2, 3, 2),
    (32, 8, 5, 4),
]


@pytest.mark.parametrize(("n_blocks", "heads", "local", "random_blocks"), PATTERNS)
def test_pattern_is_local_plus_k_random_per_head(n_blocks, heads, local, random_blocks):
    pattern = block_pattern(n_blocks, heads, local, random_blocks, seed=11)
    want = min(local + random_blocks, n_blocks)
    assert pattern.shape == (heads, n_blocks, want)
    block = 4
    dense = pattern_mask(pattern, block, n_blocks * block)
    # every query token attends exactly `want` blocks of keys, in every head
    assert (dense.sum(-1) == want * block).all()
    for i in range(n_blocks):
        near = local_blocks(i, n_blocks, local)
        assert len(near) == min(local, n_blocks) and i in near
        assert max(near) - min(near) == len(near) - 1  # a contiguous window
        for h in range(heads):
            chosen = pattern[h, i].tolist()
            assert len(set(chosen)) == want, chosen  # distinct blocks
            assert chosen[: len(near)] == near  # local first, same for every head
            rows = dense[h, i * block:(i + 1) * block]
            attended = {j for j in range(n_blocks) if rows[:, j * block].all()}
            assert attended == set(chosen)
    # the random blocks are spread over heads: with room to choose, heads disagree somewhere
    if random_blocks and n_blocks - min(local, n_blocks) > random_blocks and heads > 1:
        assert any(not torch.equal(pattern[0, :, local:], pattern[h, :, local:])
                   for h in range(1, heads))


def test_pattern_is_fixed_by_the_seed():
    assert torch.equal(block_pattern(16, 4, 3, 3, 5), block_pattern(16, 4, 3, 3, 5))
    assert not torch.equal(block_pattern(16, 4, 3, 3, 5), block_pattern(16, 4, 3, 3, 6))


def _dense_masked(q, k, v, allowed, keep):
    """Reference: dense attention with the pattern (and padding) as a boolean mask."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    mask = allowed[None] & keep[:, None, None, :]
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, -1) @ v


@pytest.mark.parametrize(("length", "block", "local", "random_blocks"), [
    (32, 8, 1, 1), (37, 8, 2, 1), (64, 4, 3, 5), (50, 16, 1, 2), (24, 8, 3, 0),
])
def test_sparse_kernel_equals_dense_attention_under_the_pattern(length, block, local,
                                                                 random_blocks):
    torch.manual_seed(0)
    b, h, d = 3, 4, 8
    q, k, v = (torch.randn(b, h, length, d, dtype=torch.float64) for _ in range(3))
    keep = torch.ones(b, length, dtype=torch.bool)
    keep[1, length // 2:] = False
    keep[2, 3:] = False
    n_blocks = -(-length // block)
    pattern = block_pattern(n_blocks, h, local, random_blocks, seed=3)
    got = rsa_attention(q, k, v, keep, pattern, block)
    want = _dense_masked(q, k, v, pattern_mask(pattern, block, length), keep)
    real = keep[:, None, :, None]  # padding queries are never read
    assert torch.allclose(got * real, want * real, atol=1e-10)


def _bert(kind: str, positions: int = 128):
    from transformers import AutoConfig, AutoModel

    offset = 2 if kind == "roberta" else 0  # roberta's positions start after the pad index
    config = AutoConfig.for_model(
        kind, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        vocab_size=1000, max_position_embeddings=positions + offset, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0)
    torch.manual_seed(1)
    return AutoModel.from_config(config, add_pooling_layer=False,
                                 attn_implementation="eager").eval()


@pytest.mark.parametrize("kind", ["bert", "roberta"])
@pytest.mark.parametrize(("length", "block"), [(40, 8), (37, 8), (64, 16), (21, 4)])
def test_all_blocks_selected_equals_dense_attention(kind, length, block):
    dense = _bert(kind)
    sparse = copy.deepcopy(dense)
    assert install_rsa(sparse, block, local=1, random_blocks=1000, seed=0) == 2
    ids = torch.randint(5, 1000, (3, length))
    mask = torch.ones(3, length, dtype=torch.long)
    mask[1, length // 3:] = 0
    mask[2, 2:] = 0
    want = dense(input_ids=ids, attention_mask=mask).last_hidden_state
    got = sparse(input_ids=ids, attention_mask=mask).last_hidden_state
    real = mask[..., None].bool()
    assert torch.allclose(got * real, want * real, atol=1e-5), (got - want).abs().max()


def test_sparse_differs_from_dense_and_gradients_flow():
    dense = _bert("bert").train()
    sparse = copy.deepcopy(dense)
    install_rsa(sparse, 8, local=1, random_blocks=1, seed=0)
    ids = torch.randint(5, 1000, (2, 64))
    mask = torch.ones(2, 64, dtype=torch.long)
    out = sparse(input_ids=ids, attention_mask=mask).last_hidden_state
    assert not torch.allclose(out, dense(input_ids=ids, attention_mask=mask).last_hidden_state,
                              atol=1e-3)
    out.pow(2).mean().backward()
    for layer in sparse.encoder.layer:
        attn = layer.attention.self
        assert isinstance(attn, RSASelfAttention)
        for lin in (attn.query, attn.key, attn.value):
            assert torch.isfinite(lin.weight.grad).all() and lin.weight.grad.abs().sum() > 0


def test_rsa_refuses_models_it_cannot_serve():
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.for_model("distilbert", dim=32, n_layers=1, n_heads=4, hidden_dim=64,
                                  vocab_size=100)
    with pytest.raises(ValueError, match="distilbert"):
        install_rsa(AutoModel.from_config(config), 8, 1, 1, 0)


def test_a_recipe_with_rsa_trains_two_steps(tmp_path):
    from training_support import synthetic_rows, write_jsonl

    write_jsonl(tmp_path / "train.jsonl", synthetic_rows(32, seed=1))
    write_jsonl(tmp_path / "dev.jsonl", synthetic_rows(16, seed=2))
    encoder = TINY_ENCODER.replace(
        "    pooling: mean\n",
        "    pooling: mean\n    attention: {type: rsa, block: 4, random_blocks: 1, "
        "local_blocks: 1}\n")
    recipe = tmp_path / "rsa.yaml"
    recipe.write_text(
        "etdecl: 1\nname: rsa\ndata:\n  train: {path: train.jsonl}\n  dev: {path: dev.jsonl}\n"
        "  fields: {text: text, label: label}\n  max_length: 16\n"
        f"encoders:\n{encoder}heads:\n  cls: {{type: classify, input: enc, labels: [neg, pos]}}\n"
        "train: {epochs: 1, batch_size: 16, lr: 1.0e-3, log_every: 1, seed: 3}\n")
    from etdecl.compile import compile_recipe
    from etdecl.recipe import load_recipe

    model = compile_recipe(load_recipe(str(recipe))).model
    assert sum(isinstance(m, RSASelfAttention) for m in model.modules()) == 2
    run = tmp_path / "run"
    proc = run_cli("train", str(recipe), "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr
    losses = [m["loss"] for m in read_metrics(run) if m["split"] == "train"]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)


def test_rsa_under_bf16_autocast_matches_dense_and_stays_finite():
    dense = _bert("bert")
    sparse = copy.deepcopy(dense)
    install_rsa(sparse, 16, local=1, random_blocks=1000, seed=0)
    ids = torch.randint(5, 1000, (2, 100))
    mask = torch.ones(2, 100, dtype=torch.long)
    mask[1, 30:] = 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want = dense(input_ids=ids, attention_mask=mask).last_hidden_state.float()
        got = sparse(input_ids=ids, attention_mask=mask).last_hidden_state.float()
    real = mask[..., None].bool()
    assert torch.isfinite(got).all()
    assert torch.allclose(got * real, want * real, atol=5e-2)
