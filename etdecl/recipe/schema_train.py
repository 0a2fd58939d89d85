"""The recipe's `parallel:`, `train:` and `method:` sections."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .registry import METHOD_TYPES
from .section import Name, Section

METRIC_PATTERN = r"^([A-Za-z_][A-Za-z0-9_-]*\.)?[a-z_][a-z0-9_]*(\[[^\]]+\])?$"
"""`METRIC`, `HEAD.METRIC`, optionally with a domain: `sentiment.accuracy[books]`."""


class ParallelConfig(Section):
    """How training is spread over processes; a single-process recipe needs none of it.

    The data-parallel size is derived: processes / (tp × pp).
    """

    plugin: Literal["ddp", "zero", "gemini", "hybrid"] = "ddp"
    """ColossalAI Booster plugin: `ddp` (TorchDDPPlugin), `zero` (LowLevelZeroPlugin, ZeRO-1/2),
    `gemini` (GeminiPlugin, chunked ZeRO-3), `hybrid` (HybridParallelPlugin: tp × pp × dp)."""
    zero_stage: Literal[0, 1, 2] | None = None
    """ZeRO stage: 1 or 2 with `zero` (default 1); 0, 1 or 2 with `hybrid` (default 0).
    `gemini` always shards parameters too (stage 3) and takes no stage."""
    tp: Annotated[int, Field(ge=1)] = 1
    """Tensor-parallel size (hybrid only): splits attention heads and FFN columns over processes."""
    pp: Annotated[int, Field(ge=1)] = 1
    """Pipeline-parallel size (hybrid only): splits the encoder's layers into stages."""
    microbatches: Annotated[int, Field(ge=1)] | None = None
    """Micro-batches per step through the pipeline (pp > 1); at least `pp`, default `pp`."""
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """Training precision. `ddp`: fp32, or bf16 autocast over fp32 weights (no fp16: no loss
    scaler on CPU); `zero`/`gemini`/`hybrid` cast the model themselves; ZeRO inside `hybrid`
    needs bf16 or fp16."""
    gradient_checkpointing: bool = False
    """Recompute encoder activations in the backward pass to save memory."""
    overlap_communication: bool | None = None
    """Overlap ZeRO gradient reduction with backward (zero, hybrid+ZeRO). Default: on with GPUs,
    off on CPU, where it cannot work."""
    overlap_p2p: bool | None = None
    """Overlap pipeline send/receive with compute (pp > 1). Default: on with GPUs, off on CPU."""
    world_size: Annotated[int, Field(ge=1)] | None = None
    """Processes this plan is written for; when set, launching with another count is an error."""




class TrainConfig(Section):
    """The optimisation loop: schedule, batch sizes, evaluation and checkpoints."""

    epochs: Annotated[int, Field(ge=1)] = 1
    """Passes over the training data."""
    max_steps: Annotated[int, Field(ge=1)] | None = None
    """Stop after this many optimizer steps (overrides `epochs` when smaller)."""
    batch_size: Annotated[int, Field(ge=1)] = 32
    """Global batch size per optimizer step, summed over all processes and accumulation steps."""
    grad_accum: Annotated[int, Field(ge=1)] = 1
    """Micro-batches accumulated per optimizer step."""
    eval_batch_size: Annotated[int, Field(ge=1)] = 64
    """Batch size for evaluation, per process."""
    lr: Annotated[float, Field(gt=0.0, le=1.0)] = 5.0e-5
    """Peak learning rate of AdamW."""
    weight_decay: Annotated[float, Field(ge=0.0)] = 0.01
    """AdamW decoupled weight decay (not applied to biases and LayerNorm weights)."""
    warmup: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    """Share of the optimizer steps spent warming the learning rate up linearly,
    then linear decay."""
    clip_grad_norm: Annotated[float, Field(gt=0.0)] | None = 1.0
    """Clip the global gradient norm to this value; null turns clipping off."""
    eval_every: Annotated[int, Field(ge=1)] | None = None
    """Evaluate every N optimizer steps, besides every epoch end."""
    checkpoint_every: Annotated[int, Field(ge=1)] | None = None
    """Save a resumable checkpoint every N steps (default: with each evaluation)."""
    log_every: Annotated[int, Field(ge=1)] = 10
    """Write training loss to metrics.jsonl and TensorBoard every N steps."""
    metric: Annotated[str, Field(pattern=METRIC_PATTERN)] | None = None
    """Dev metric that picks the best checkpoint: `HEAD.METRIC` (e.g. `sentiment.macro_f1`),
    or `METRIC` with one head. Default: the first head's primary metric."""
    mixing: Literal["proportional", "temperature", "round_robin"] = "proportional"
    """With several datasets, how each step picks the one it draws its batch from: by size,
    by size^(1/mixing_temperature), or in turn."""
    mixing_temperature: Annotated[float, Field(ge=1.0)] = 2.0
    """Temperature of `mixing: temperature` (1 is proportional; larger flattens)."""
    batching: Literal["random", "bucketed"] = "random"
    """How each epoch's order groups examples into batches: `random`, or `bucketed` (batches of
    similar length, shuffled at the batch level, so less padding is computed)."""
    sampling: Literal["random", "domain_balanced"] = "random"
    """Which examples each epoch draws: `random` (each once, shuffled), or `domain_balanced`
    (as many from every domain of a dataset: smaller domains repeat, larger ones are sampled
    afresh each epoch; epoch length unchanged). Seeded per epoch, so `--resume` replays it."""
    bucket_window: Annotated[int, Field(ge=1)] = 50
    """With `bucketed`: how many global batches are drawn at random and then sorted by length
    together (larger: less padding, less randomness)."""
    compile: bool = False
    """Compile the model's forward and backward with torch.compile (falls back to eager, with a
    message, where a plugin or graph cannot be compiled)."""
    seed: int = 42
    """Seed of initialisation, shuffling and dropout."""
    deterministic: bool = True
    """Use deterministic kernels so a run repeats bit for bit."""
    output_dir: str = "runs"
    """Runs are written to `<output_dir>/<name>`, relative to the working directory."""
    init_from: str | None = None
    """Start from a finished run's weights (its best checkpoint) or an exported bundle's: every
    weight of this graph that the source has under the same name with the same shape is loaded
    before training, the rest stay as built (e.g. a head with other labels). For fine-tuning on
    a target after training on a source. Relative to the recipe file; `${VAR}` expands.
    `--resume` ignores it: the run's own checkpoint wins."""
    init_checkpoint: Literal["best", "last"] = "best"
    """Which checkpoint of the `init_from` run to start from (a bundle has one)."""
    datasets: Annotated[list[Name], Field(min_length=1)] | None = None
    """The datasets (`data.sets` names) whose training rows are batched. Default: all. Dev
    evaluation still covers every dataset."""
    unfreeze: Literal["none", "gradual"] = "none"
    """`gradual`: at first only the top transformer layer of each `hf` encoder trains (with
    the heads); one more layer thaws from the top at equal intervals of the training's steps,
    the embeddings last (L layers: L + 1 phases). Layers under `freeze_layers` never thaw.
    Needs the `ddp` plugin."""


@METHOD_TYPES.register
class SupervisedMethod(Section):
    """Each head's task loss on its own data, weighted by `heads.*.weight`."""

    type: Literal["supervised"]
