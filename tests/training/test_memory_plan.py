"""The memory plan's plugin buffers against hand-computed bytes, and `etdecl plan` naming them."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from training_support import run_cli

from etdecl.engine.layout import RUNTIME, PartSizes, plan_ranks
from etdecl.engine.plugin_buffers import (
    ZERO_BUCKET,
    gemini_chunk_elements,
    pipeline_buffers,
    plugin_buffers,
)
from etdecl.recipe.modelinfo import EncoderShape


def test_ddp_keeps_a_second_copy_of_the_gradients_and_one_adam_temporary():
    b = plugin_buffers("ddp", zero=0, dp=2, params=1000, pbytes=4)
    assert b.resident == {"ddp gradient buckets": 4000}
    assert b.backward == {}
    assert b.step == {"adam temporary": 4000}


@pytest.mark.parametrize("dp", [1, 2, 4])
def test_hybrid_without_zero_has_ddp_buckets_only_when_replicated(dp):
    b = plugin_buffers("hybrid", zero=0, dp=dp, params=1000, pbytes=4)
    assert b.resident == ({"ddp gradient buckets": 4000} if dp > 1 else {})


@pytest.mark.parametrize("dp", [2, 4])
def test_zero1_fp32_master_shards_and_the_all_gather_bucket(dp):
    params = 1200  # shards of 600 / 300 elements, far below the 12 Mi bucket
    b = plugin_buffers("zero", zero=1, dp=dp, params=params, pbytes=4, largest=200)
    shard = params // dp
    assert b.resident == {"fp32 master shards": 4 * shard}
    assert b.backward == {}
    # phases after backward: reduce copy 4·P, Adam 4·P/dp, gather (1 + dp)·P/dp·4 + the
    # largest tensor re-flattened
    phases = {"reduce bucket": 4 * params, "adam temporary": 4 * shard,
              "all-gather buckets": (1 + dp) * shard * 4 + 200 * 4}
    best = max(phases, key=phases.__getitem__)
    assert b.step == {best: phases[best]}


def test_zero2_bf16_reduces_through_two_capped_buckets_during_backward():
    params = 3 * ZERO_BUCKET
    b = plugin_buffers("zero", zero=2, dp=2, params=params, pbytes=2, largest=1000)
    assert b.resident == {"fp32 master shards": 4 * params / 2}
    assert b.backward == {"reduce buckets": 2 * ZERO_BUCKET * 2}
    assert b.step["fp32 gradient shards"] == 4 * params / 2
    # the all-gather bucket is capped too: (1 + dp) · 12 Mi · 2 bytes + the bf16 casts
    assert b.step["all-gather buckets"] == 3 * ZERO_BUCKET * 2 + ZERO_BUCKET * 2 + 1000 * 2


def test_gemini_fp32_master_chunks_gathered_chunks_and_fp32_gradient_shards():
    b = plugin_buffers("gemini", zero=3, dp=4, params=4000, pbytes=2, largest=100)
    assert b.resident == {"fp32 master chunks": 4000}
    assert b.backward == {"gathered chunk + its gradient": 400}
    assert b.step == {"adam fp32 temporaries": 2 * 4 * 100 / 4}


@pytest.mark.parametrize("hidden, intermediate, largest, expected", [
    (384, 1536, 0, 384 * 1536),  # no outsized parameter: an FFN matrix
    (384, 1536, 30522 * 384, 30522 * 384),  # the word embeddings' own chunk
    (32, 64, 100, 32 * 64),  # a small outlier still fits the FFN-sized chunk
])
def test_gemini_largest_chunk(hidden, intermediate, largest, expected):
    assert gemini_chunk_elements(hidden, intermediate, largest) == expected


@pytest.mark.parametrize("pp, in_flight, expected", [(1, 1, 0), (2, 2, 2 * 2 * 8 * 4 * 16 * 2),
                                                     (4, 1, 2 * 1 * 8 * 4 * 16 * 2)])
def test_pipeline_buffers_one_tensor_each_way_per_micro_batch_in_flight(pp, in_flight, expected):
    assert pipeline_buffers(pp, in_flight, seq=8, batch=4, hidden=16, pbytes=2) == expected


SHAPE = EncoderShape("bert", layers=2, heads=2, hidden=8, intermediate=16, vocab=100)
PARTS = PartSizes(embeddings=1000, word_embeddings=800, per_layer=500, per_layer_split=400,
                  head=18)
PLANS = {
    "ddp": dict(plugin="ddp"),
    "zero-1": dict(plugin="zero", zero_stage=1),
    "zero-2 bf16": dict(plugin="zero", zero_stage=2, precision="bf16"),
    "gemini": dict(plugin="gemini", precision="bf16"),
    "tp2": dict(plugin="hybrid", tp=2),
    "pp2": dict(plugin="hybrid", pp=2),
}


def _plan(**kw) -> SimpleNamespace:
    base = dict(plugin="ddp", zero_stage=None, precision="fp32", tp=1, pp=1, microbatches=None,
                gradient_checkpointing=False)
    return SimpleNamespace(**{**base, **kw})


@pytest.mark.parametrize("name", list(PLANS))
def test_peak_sums_every_part_and_names_the_plugin_buffers(name):
    ranks = plan_ranks(_plan(**PLANS[name]), SHAPE, PARTS, world=2, batch_size=8, grad_accum=1,
                       seq_len=16)
    for r in ranks:
        assert r.total == pytest.approx(sum(r.memory.values()))
        assert r.memory["runtime"] == RUNTIME
        assert r.memory["step"] == pytest.approx(sum(
            v for k, v in r.detail.items()
            if k in ("adam temporary", "fp32 gradient shards", "reduce bucket",
                     "all-gather buckets", "adam fp32 temporaries")))
        assert r.memory["buffers"] == sum(
            v for k, v in r.detail.items() if k in ("ddp gradient buckets", "fp32 master shards",
                                                    "fp32 master chunks",
                                                    "model built whole before the split"))


def test_tensor_parallel_counts_the_model_built_whole():
    """Measured on CPU: the graph is built whole in fp32 before tp splits it (the heap keeps
    the pieces)."""
    tp = plan_ranks(_plan(plugin="hybrid", tp=2), SHAPE, PARTS, world=2, batch_size=8,
                    grad_accum=1, seq_len=16)[0]
    whole = (PARTS.embeddings + SHAPE.layers * PARTS.per_layer + PARTS.head) * 4
    assert tp.detail["model built whole before the split"] == whole



def test_zero_shards_adam_moments_and_gemini_shards_parameters_too():
    ranks = {n: plan_ranks(_plan(**kw), SHAPE, PARTS, world=2, batch_size=8, grad_accum=1,
                           seq_len=16)[0] for n, kw in PLANS.items()}
    params = ranks["ddp"].params
    assert ranks["ddp"].memory["optimizer"] == 8 * params
    assert ranks["zero-1"].memory["optimizer"] == 8 * params / 2
    assert ranks["zero-1"].memory["gradients"] == 4 * params
    assert ranks["zero-2 bf16"].memory["gradients"] == 2 * params / 2
    assert ranks["gemini"].memory["parameters"] == 2 * params / 2
    assert ranks["gemini"].memory["gradients"] == 0


def test_plan_prints_the_plugin_buffers(tiny_recipe):
    recipe = tiny_recipe()
    for plugin, line in (("ddp", "ddp gradient buckets"), ("zero", "fp32 master shards")):
        out = run_cli("plan", str(recipe), "--nproc", "2", "--set",
                      f"parallel.plugin={plugin}")
        assert out.returncode == 0, out.stderr
        assert f"{plugin} buffers (rank 0)" in out.stdout
        assert line in out.stdout
        assert "buffers" in out.stdout and "peak" in out.stdout


def test_ddp_bf16_autocasts_activations_and_keeps_fp32_weights():
    fp32, bf16 = (plan_ranks(_plan(plugin="ddp", precision=pr), SHAPE, PARTS, world=1,
                             batch_size=8, grad_accum=1, seq_len=16)[0] for pr in ("fp32", "bf16"))
    for part in ("parameters", "gradients", "optimizer", "buffers", "step"):
        assert bf16.memory[part] == fp32.memory[part]
    embeddings = 16 * 8 * 8 * 4 * 3  # s·b·h fp32 embedding outputs, the same in both
    layers = fp32.memory["activations"] - embeddings
    assert bf16.memory["activations"] == embeddings + layers / 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning")
def test_freed_tensors_go_back_to_the_os_under_gemini_tuning() -> None:
    """After `return_freed_memory` (applied for Gemini on CPU), a large tensor freed is memory
    returned, also after earlier large frees (which otherwise raise glibc's mmap threshold and
    keep later blocks on the heap)."""
    import subprocess

    # its own process: malloc's tuning would otherwise stay with the rest of the test session
    probe = """
import psutil, torch
from etdecl.engine.heap import return_freed_memory
assert return_freed_memory()
proc = psutil.Process()
for _ in range(3):
    before = proc.memory_info().rss
    block = torch.ones(6 * 2**20)  # 24 MiB: under glibc's 32 MiB mmap threshold cap
    assert proc.memory_info().rss - before > 20 * 2**20
    del block
    assert proc.memory_info().rss - before < 8 * 2**20, "freed block kept"
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
