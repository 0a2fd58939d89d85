"""Encoders and heads a recipe can declare, each registered under its `type:` name.

Each head type also says, torch-free, what its task needs: the field roles its rows must have,
whether it reads per-token states, and its metrics (the first is the primary one), so
`validate` can check a recipe against its data and its metric names before anything loads.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from .adabert_space import OPS
from .registry import ENCODER_TYPES, HEAD_TYPES
from .section import Name, Section

# ── encoders ─────────────────────────────────────────────────────────────────────────────────


class Attention(Section):
    """How an `hf` encoder's self-attention reads keys: `dense` (the model's own), or `rsa`,
    random sparse attention: each query block attends its `local_blocks` nearest key blocks
    plus `random_blocks` others drawn per head, with the same pretrained weights."""

    type: Literal["dense", "rsa"] = "dense"
    """`dense`, or `rsa` (BERT-family models: bert, roberta, xlm-roberta, camembert, electra)."""
    block: Annotated[int, Field(ge=1)] = 64
    """Tokens per block (rsa). Batches are padded inside the layer to a multiple of it."""
    random_blocks: Annotated[int, Field(ge=0)] = 2
    """Random key blocks each query block attends, drawn separately for every head (rsa)."""
    local_blocks: Annotated[int, Field(ge=1)] = 3
    """Nearest key blocks each query block attends, its own included (rsa)."""
    seed: Annotated[int, Field(ge=0)] = 0
    """Seed of the random blocks; the pattern is fixed per layer, so predictions repeat (rsa)."""


@ENCODER_TYPES.register
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
    pooling: Literal["cls", "mean", "pooler"] = "cls"
    """How token states become one vector: the first token, the mask-weighted mean, or
    `pooler`, the model's own pretrained pooler (BERT: dense + tanh over the first token), the
    vector Hugging Face's sequence-classification heads read, so `export --format hf` can
    give a classify or match head as `AutoModelForSequenceClassification`."""
    freeze_embeddings: bool = False
    """Keep the embedding layer fixed during training."""
    freeze_layers: Annotated[int, Field(ge=0)] = 0
    """Keep the bottom N transformer layers fixed during training."""
    layer_lr_decay: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    """Layer-wise learning-rate decay: layer l from the top trains at lr × decay^l
    (embeddings lowest); heads train at the full rate."""
    trust_remote_code: bool = False
    """Allow code shipped with the model folder to run. Off unless you trust its author."""
    from_teacher: Name | None = None
    """Instead of `model`: start from a teacher's encoder (`teachers:`), its config, tokenizer
    and trained weights (extract-then-distill, with `layers`)."""
    layers: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)] | None = None
    """Keep only these transformer layers (0-based, in this order) of `model` or the teacher's
    encoder, with its embeddings: e.g. `[0, 5]` makes a 2-layer student of MiniLM-L6."""
    attention: Attention = Attention()
    """Self-attention pattern: dense (default) or random sparse (`type: rsa`)."""


class _SmallEncoder(Section):
    tokenizer: str
    """Tokenizer folder or alias whose word pieces this encoder reads (e.g. `minilm-l6`)."""
    embeddings: Literal["random", "pretrained"] = "random"
    """`random`, or `pretrained`: copy the word-embedding matrix of the `tokenizer`'s model."""
    embedding_dim: Annotated[int, Field(ge=1)] | None = None
    """Width of random embeddings (pretrained ones take the model's width)."""
    freeze_embeddings: bool = False
    """Keep the embedding matrix fixed during training."""
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    """Dropout on embeddings and outputs."""


@ENCODER_TYPES.register
class TextCNNEncoder(_SmallEncoder):
    """Kim (2014): parallel convolutions of several widths, max-pooled over time."""

    type: Literal["textcnn"]
    widths: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)] = [3, 4, 5]
    """Convolution widths, in word pieces."""
    channels: Annotated[int, Field(ge=1)] = 100
    """Filters per width; the output width is channels × len(widths)."""


@ENCODER_TYPES.register
class BiLSTMEncoder(_SmallEncoder):
    """A bidirectional LSTM; pooled output is the masked mean (or max) of its states."""

    type: Literal["bilstm"]
    hidden: Annotated[int, Field(ge=1)] = 128
    """Hidden units per direction; the output width is twice this."""
    layers: Annotated[int, Field(ge=1)] = 1
    """Stacked LSTM layers."""
    pooling: Literal["mean", "max"] = "mean"
    """How the states become one vector per example."""


AdaBERTOp = Literal[OPS]  # type: ignore[valid-type]


class AdaBERTEdge(Section):
    """One kept edge of a derived AdaBERT node."""

    input: Annotated[int, Field(ge=0)]
    """0, 1: the cell's inputs (cells k − 2, k − 1); 2 + i: node i of the cell."""
    op: AdaBERTOp
    """The operation on this edge."""


@ENCODER_TYPES.register
class AdaBERTEncoder(_SmallEncoder):
    """AdaBERT (Chen et al. 2020): K cells over word-piece embeddings, each a small DAG whose
    edges choose among convolutions, dilated convolutions, pooling, identity and zero. Without
    `architecture` the cells are searched (`method: adabert`); with it, the derived cells are
    built and trained (e.g. a later stage with `start: derived`)."""

    type: Literal["adabert"]
    cells: Annotated[int, Field(ge=1)] = 3
    """K: cells stacked; cell k reads the outputs of cells k − 1 and k − 2."""
    nodes: Annotated[int, Field(ge=1)] = 3
    """Intermediate nodes per cell; node j reads the cell's two inputs and nodes 0..j − 1."""
    hidden: Annotated[int, Field(ge=1)] = 128
    """Width of every cell (the embeddings are projected to it)."""
    ops: Annotated[list[AdaBERTOp], Field(min_length=2)] = list(OPS)
    """Candidate operations of every edge while searching."""
    pooling: Literal["mean", "max"] = "mean"
    """How the last cell's tokens become one vector per example."""
    architecture: str | Annotated[list[Annotated[list[AdaBERTEdge], Field(min_length=1)]],
                                  Field(min_length=1)] | None = None
    """The derived cells: per node, its edges `{input, op}` (inputs 0, 1: the cell's inputs;
    2 + i: node i), or a search run's `architecture.yaml` (a path relative to the recipe).
    None: search them."""


# ── heads (tasks) ────────────────────────────────────────────────────────────────────────────


class _Head(Section):
    ROLES: ClassVar[tuple[str, ...]] = ()
    """Field roles every row must have."""
    TARGET_ROLES: ClassVar[tuple[str, ...]] = ()
    """Field roles holding the target (not needed to predict)."""
    TOKEN_LEVEL: ClassVar[bool] = False
    """Reads per-token states, aligned to one tokenizer."""
    METRICS: ClassVar[tuple[str, ...]] = ()
    """Metric names; the first is the primary one (selects the best checkpoint by default)."""

    input: Name | Annotated[list[Name], Field(min_length=1)]
    """Node (encoder or tower) this head reads, or a list of nodes whose outputs are
    concatenated."""
    data: Name | Annotated[list[Name], Field(min_length=1)] | None = None
    """Dataset(s) under `data.sets` that train and evaluate this head; optional with one."""
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    """Dropout on the head's input."""
    weight: Annotated[float, Field(gt=0.0)] = 1.0
    """Weight of this head's loss in the total (multi-task)."""

    def inputs(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class _Labelled(_Head):
    labels: Annotated[list[str], Field(min_length=2)]
    """Label names, in class-index order."""


@HEAD_TYPES.register
class ClassifyHead(_Labelled):
    """Sequence classification over a single text or a text pair (`data.fields.text_pair`)."""

    ROLES = ("text",)
    TARGET_ROLES = ("label",)
    METRICS = ("accuracy", "macro_f1", "f1", "roc_auc")

    type: Literal["classify"]


@HEAD_TYPES.register
class MatchHead(_Labelled):
    """Text-pair matching: a cross-encoder reads both texts together; a siamese bi-encoder
    encodes each alone and compares them ([u; v; |u−v|; u∗v], or a scaled cosine)."""

    ROLES = ("text", "text_pair")
    TARGET_ROLES = ("label",)
    METRICS = ("accuracy", "f1", "macro_f1", "roc_auc")

    type: Literal["match"]
    mode: Literal["cross", "siamese"] = "cross"
    """`cross`: one encoder pass over the pair; `siamese`: each text encoded on its own."""
    similarity: Literal["concat", "cosine"] = "concat"
    """Siamese comparison: a linear layer over [u; v; |u−v|; u∗v], or a scaled cosine
    (two labels only)."""


@HEAD_TYPES.register
class TagHead(_Labelled):
    """Sequence labelling (named entities, chunks): one tag per word, BIO or BIOES."""

    ROLES = ("tokens",)
    TARGET_ROLES = ("tags",)
    TOKEN_LEVEL = True
    METRICS = ("f1", "precision", "recall")

    type: Literal["tag"]
    scheme: Literal["bio", "bioes"] = "bio"
    """Tagging scheme of `labels` and the data; entity F1 is scored strictly in it."""
    crf: bool = False
    """A linear-chain CRF over the tag emissions, decoded with Viterbi (only well-formed tag
    sequences are predicted)."""


@HEAD_TYPES.register
class SpanHead(_Head):
    """Extractive reading comprehension: the answer is a span of the context (SQuAD v1.1)."""

    ROLES = ("question", "context")
    TARGET_ROLES = ("answers",)
    TOKEN_LEVEL = True
    METRICS = ("f1", "exact_match")

    type: Literal["span"]
    doc_stride: Annotated[int, Field(ge=1)] = 128
    """Overlap, in tokens, of consecutive windows over a context too long for `max_length`
    (the `stride` of Hugging Face tokenizers)."""
    max_answer_length: Annotated[int, Field(ge=1)] = 30
    """Longest answer, in word pieces."""
    n_best: Annotated[int, Field(ge=1)] = 20
    """Start and end candidates considered per window."""
