"""The memory ColossalAI 0.5.0's plugins allocate beside parameters, gradients and Adam moments.

Torch-free arithmetic over the plan, mirroring what the installed source builds on CPU (with
`cpu_compat.plugin_kwargs_for_cpu`: no overlap, Gemini static placement, no pinned memory), so
that `etdecl plan` can name each buffer and `bench/memory_estimate.py` can check the sum:

* TorchDDP keeps flat gradient buckets as large as the gradients (`gradient_as_bucket_view`
  is off), so gradients exist twice.
* LowLevelZero (`zero`, and `hybrid` with zero_stage > 0) clones an fp32 master shard of every
  parameter (`master_weights=True`, also in fp32); reduces gradients through a flat copy of a
  12 Mi-element bucket (ZeRO-2 during backward, with the bucket's unreduced gradients still
  alive, ZeRO-1 after it); casts bf16 gradient shards to fp32 before the step; and after it
  all-gathers the updated shards through a `TensorBucket` (a flat copy plus a dp× buffer, then
  each tensor's shards flattened into one whole tensor).
* Gemini holds bf16 parameters in chunks sharded over dp, with paired fp32 master chunks, and
  gathers a chunk while a module computes; gradients reuse the bf16 chunk (no own buffer), and
  HybridAdam's step casts them to fp32 one tensor at a time.
* Pipelines receive (and send) one activation tensor per micro-batch in flight.
"""

from __future__ import annotations

from dataclasses import dataclass

ZERO_BUCKET = 12 * 1024 * 1024
"""Elements per gradient-reduce and all-gather bucket (LowLevelZeroPlugin
`reduce_bucket_size_in_m` and HybridParallelPlugin `zero_bucket_size_in_m`, both 12)."""


@dataclass(frozen=True)
class PluginBuffers:
    """Bytes per rank. `resident` lives for the whole run; `backward` is alive together with
    the activations; `step` is the optimizer step's high-water mark (activations are freed)."""

    resident: dict[str, float]
    backward: dict[str, float]
    step: dict[str, float]


def plugin_buffers(
    plugin: str, zero: int, dp: int, params: int, pbytes: int, largest: int = 0
) -> PluginBuffers:
    """Buffers of `plugin` for a rank holding `params` parameters of `pbytes` bytes each, its
    ZeRO stage `zero` over `dp` replicas; `largest` is its largest parameter in elements (for
    Gemini its largest chunk, `gemini_chunk_elements`)."""
    resident: dict[str, float] = {}
    backward: dict[str, float] = {}
    step: dict[str, float] = {}
    shard = params / dp
    adam_temp = 4 * (shard if zero >= 1 else params)
    """torch's multi-tensor AdamW builds one fp32 temporary the size of what it updates."""
    if plugin == "gemini":
        resident["fp32 master chunks"] = 4 * shard
        backward["gathered chunk + its gradient"] = 2 * largest * pbytes
        # the Adam kernel (cpu_adam.py) works one tensor at a time: an fp32 copy of its bf16
        # gradient and one fp32 temporary, at most the largest chunk's shard each
        step["adam fp32 temporaries"] = 2 * 4 * largest / dp
    elif zero >= 1:
        bucket = min(params, ZERO_BUCKET)
        resident["fp32 master shards"] = 4 * shard
        cast = 4 * shard if pbytes != 4 else 0.0
        gather_bucket = min(shard, ZERO_BUCKET)
        # flat copy + dp× receive buffer, the bf16 casts, and each tensor re-flattened whole
        gather = ((1 + dp) * gather_bucket * pbytes + (gather_bucket * pbytes if pbytes != 4 else 0)
                  + largest * pbytes)
        if zero >= 2:
            backward["reduce buckets"] = 2 * bucket * pbytes
        sync = 0.0 if zero >= 2 else bucket * pbytes
        # the step runs after the reduce: one phase at a time, the largest counts
        phases = {"reduce bucket": sync, "adam temporary": adam_temp,
                  "all-gather buckets": gather}
        name = max(phases, key=phases.__getitem__)
        if cast:
            step["fp32 gradient shards"] = cast
        step[name] = phases[name]
    else:
        if plugin == "ddp" or (plugin == "hybrid" and dp > 1):
            resident["ddp gradient buckets"] = params * pbytes
        step["adam temporary"] = adam_temp
    return PluginBuffers(resident, backward, step)


def pipeline_buffers(pp: int, in_flight: int, seq: int, batch: int, hidden: int,
                     pbytes: int) -> float:
    """Bytes of the p2p send and receive buffers: one hidden-state tensor each way per
    micro-batch in flight (0 without a pipeline)."""
    if pp <= 1:
        return 0.0
    return 2 * in_flight * seq * batch * hidden * pbytes


def gemini_chunk_elements(hidden: int, intermediate: int, largest: int = 0) -> int:
    """Gemini's largest chunk with `min_chunk_size_m=0`: the chunk size is the largest parameter
    once the outsized ones (the word embeddings, > mean + 3 std) are filtered out, i.e. an FFN
    matrix rounded up to the search interval (the hidden size); an outsized parameter
    (`largest`) gets a chunk of its own."""
    ffn = -(-(hidden * intermediate) // hidden) * hidden
    return max(ffn, largest)
