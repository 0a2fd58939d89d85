"""Where each part of the model sits on each rank, and how much memory each rank needs.

Pure arithmetic over the recipe's parallel plan and the encoder's shape: `etdecl plan` prints
it, and `bench/memory_estimate.py` compares it with the peak resident memory of real runs.

Rank order follows ColossalAI's ProcessGroupMesh(dp, pp, tp): tp varies fastest, then pp.
Memory model per rank (bytes), with P the parameters the rank holds; the peak is the sum:
  parameters  P × bytes(precision), / dp under Gemini
  gradients   P × bytes(precision), / dp under ZeRO-2; none under Gemini (they reuse its chunks)
  optimizer   Adam moments 8 bytes/param, / dp under ZeRO-1/2 / Gemini
  buffers     the plugin's own resident buffers (`plugin_buffers`: DDP buckets, fp32 masters;
              with tp, the fp32 model as built before the split, whose pieces the heap keeps)
  activations per encoder layer held, for the micro-batches in flight (Korthikanti et al. 2022):
              s·b·h·(10 + 24/t) + 5·a·s²·b/t elements in 16-bit units, doubled for fp32; plus
              buffers alive during backward (ZeRO-2 reduce buckets, Gemini chunks, pipeline p2p)
  step        the optimizer step's transients (Adam's temporary, fp32 gradient casts, ZeRO's
              reduce and all-gather buckets)
  runtime     tokenizer, tokenised data, process group: a measured constant (RUNTIME)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from ..recipe.batch_math import batch_layout
from ..recipe.modelinfo import EncoderShape
from ..recipe.schema import ParallelConfig
from .plugin_buffers import gemini_chunk_elements, pipeline_buffers, plugin_buffers


def stage_layout(layers: int, pp: int) -> list[tuple[int, int]]:
    """Encoder layers [start, end) per pipeline stage, as ColossalAI's PipelineStageManager
    distributes them (the remainder goes to the middle stages)."""
    counts = [layers // pp] * pp
    remainder = layers % pp
    first = pp // 2 - remainder // 2
    for i in range(first, first + remainder):
        counts[i] += 1
    out, start = [], 0
    for c in counts:
        out.append((start, start + c))
        start += c
    return out


@dataclass
class PartSizes:
    """Parameter counts of the model's parts (from the compiled model or the config)."""

    embeddings: int
    word_embeddings: int
    per_layer: int
    per_layer_split: int
    """Of `per_layer`, the weights tensor parallelism splits (attention and FFN matrices)."""
    head: int


@dataclass
class RankPlan:
    rank: int
    dp: int
    pp_stage: int
    tp: int
    layers: tuple[int, int]
    embeddings: bool
    head: bool
    params: int
    memory: dict[str, float] = field(default_factory=dict)
    """Bytes per part: parameters, gradients, optimizer, buffers, activations, step."""
    detail: dict[str, float] = field(default_factory=dict)
    """The plugin's buffers by name (`plugin_buffers`), inside `buffers`, `activations`, `step`."""

    @property
    def total(self) -> float:
        """Peak resident memory: every part adds up. The step's buffers do not reuse the
        activations' memory: freed activations stay in the allocator's heap in pieces, and
        the step's large buffers are fresh mappings (measured: the step's peak is the
        backward's plus the Adam temporary)."""
        return sum(self.memory.values())


RUNTIME = 40 * 2**20
"""Bytes of what every rank holds besides the model: the tokenizer, the tokenised data, the
process group. Measured as what `Trainer.setup` adds beyond parameters and plugin buffers
(40-43 MiB for DDP, ZeRO and Gemini on the quickstart; bench/memory_estimate.py)."""


def bert_part_sizes(
    shape: EncoderShape, type_vocab: int = 2, max_positions: int = 512, head: int = 0
) -> PartSizes:
    h, f = shape.hidden, shape.intermediate
    word = shape.vocab * h
    emb = word + max_positions * h + type_vocab * h + 2 * h
    split = 4 * h * h + 3 * h + 2 * h * f + f  # q,k,v,o weights, q,k,v biases; FFN in
    per_layer = split + h + 2 * 2 * h + h  # o bias, two LayerNorms, FFN output bias
    return PartSizes(emb, word, per_layer, split, head)


def _bytes(precision: str) -> int:
    return 4 if precision == "fp32" else 2


def plan_ranks(
    plan: ParallelConfig,
    shape: EncoderShape,
    parts: PartSizes,
    world: int,
    batch_size: int,
    grad_accum: int,
    seq_len: int,
) -> list[RankPlan]:
    """Layout and memory estimate of every rank for a world of `world` processes."""
    b = batch_layout(plan, SimpleNamespace(batch_size=batch_size, grad_accum=grad_accum), world)
    tp, pp, dp, micro, micro_batch, zero = b.tp, b.pp, b.dp, b.micro, b.micro_batch, b.zero
    stages = stage_layout(shape.layers, pp)
    abytes = _bytes(plan.precision)
    # DDP in bf16 autocasts activations and keeps fp32 weights and gradients
    pbytes = 4 if plan.plugin == "ddp" else abytes
    out = []
    for rank in range(dp * pp * tp):
        d, rest = divmod(rank, pp * tp)
        stage, t = divmod(rest, tp)
        start, end = stages[stage]
        first, last = stage == 0, stage == pp - 1
        n_layers = end - start
        params = n_layers * (parts.per_layer - parts.per_layer_split + parts.per_layer_split // tp)
        if first:
            params += parts.embeddings - parts.word_embeddings + parts.word_embeddings // tp
        if last:
            params += parts.head
        shard = dp if zero >= 3 else 1
        grads = 0.0 if plan.plugin == "gemini" else params * pbytes / (dp if zero >= 2 else 1)
        optim = params * 8 / (dp if zero >= 1 else 1)
        in_flight = min(pp - stage, micro) if pp > 1 else 1
        s, b, h, a = seq_len, micro_batch, shape.hidden, shape.heads
        per_layer_act = (s * b * h * (10 + 24 / tp) + 5 * a * s * s * b / tp) * 2
        act = per_layer_act * n_layers * in_flight * (abytes / 2)
        if first:
            act += s * b * h * 4 * 3  # embedding sum, LayerNorm, dropout outputs
        if plan.gradient_checkpointing:
            act = act / max(1, n_layers) + n_layers * s * b * h * abytes
        largest = gemini_chunk_elements(shape.hidden, shape.intermediate // tp,
                                        parts.word_embeddings // tp if first else 0)
        buf = plugin_buffers(plan.plugin, zero, dp, params, pbytes, largest)
        p2p = pipeline_buffers(pp, in_flight, s, b, h, abytes)
        backward = {**buf.backward, **({"pipeline p2p": p2p} if p2p else {})}
        memory = {
            "parameters": params * pbytes / shard,
            "gradients": grads,
            "optimizer": optim,
            "buffers": 0.0,
            "activations": act + sum(backward.values()),
            "step": sum(buf.step.values()),
            "runtime": RUNTIME,
        }
        if tp > 1:  # the graph is built whole in fp32, then split: glibc keeps the pieces
            built = parts.embeddings + shape.layers * parts.per_layer + parts.head
            buf.resident["model built whole before the split"] = built * 4.0
        detail = {**buf.resident, **backward, **buf.step}
        memory["buffers"] = sum(buf.resident.values())
        out.append(RankPlan(rank, d, stage, t, (start, end), first, last, params, memory,
                            detail))
    return out


def tp_split_weights(tp: int) -> list[str]:
    """Which weights tensor parallelism splits in a BERT layer (ColossalAI's BertPolicy)."""
    if tp == 1:
        return []
    return [
        "attention.self.query/key/value: columns (Linear1D_Col)",
        "attention.output.dense: rows (Linear1D_Row)",
        "intermediate.dense: columns (Linear1D_Col)",
        "output.dense: rows (Linear1D_Row)",
        "embeddings.word_embeddings: vocabulary (VocabParallelEmbedding1D)",
    ]
