"""The recipe's `teachers:` and `stages:` sections and the distillation methods (the EasyTransfer
paper's model-based family: logits KD, BERT-PKD, TinyBERT, MiniLM, extract-then-distill, staged
XtremeDistil and MetaKD) and the meta-learners (MetaFT's is MetaKD's meta-teacher; MetaDTL).

A teacher is a finished run or an exported bundle (its encoders and heads, frozen), or a bare
pretrained encoder (representation objectives only). Each teacher lists the objectives the
student learns from it; layer maps, widths and vocabularies are checked in `validate`
(`check_teachers.py`) from the models' config files, before any weights load.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from . import schema_train  # noqa: F401  (registers `supervised` before the stages' union)
from .registry import METHOD_TYPES
from .section import Name, Section

LayerPair = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2, max_length=2)]
"""`[student layer, teacher layer]`, 1-based transformer layers (0 is the embedding output)."""

LayerMap = Literal["uniform", "last"] | Annotated[list[LayerPair], Field(min_length=1)]
"""Which teacher layer each student layer learns from: `uniform` (student layer i ← teacher
layer i·T/S, TinyBERT's and PKD's default), `last` (the student's top layers ← the teacher's top
layers), or explicit `[[student, teacher], ...]` pairs."""

Weight = Annotated[float, Field(ge=0.0)]


class LogitsObjective(Section):
    """Hinton et al. (2015): the student's softened predictions match the teacher's, a KL
    divergence at temperature T (scaled by T² so its gradients keep their size), mixed with
    the student's own task loss by `alpha`."""

    temperature: Annotated[float, Field(gt=0.0)] = 2.0
    """Softmax temperature of both models' logits."""
    alpha: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    """Share of the soft loss: total = (1 − alpha) × task loss + alpha × T² × KL."""
    heads: dict[Name, Name] | None = None
    """Student head → teacher head whose logits it learns. Default: every student head whose
    name the teacher also has (their labels must be the same, in the same order)."""


class PKDObjective(Section):
    """BERT-PKD (Sun et al. 2019): the student's normalised [CLS] states at its mapped layers
    match the teacher's, a mean squared error."""

    layers: LayerMap = "uniform"
    """Student layer → teacher layer (`uniform`, `last`, or explicit pairs)."""
    weight: Weight = 100.0
    """Weight of the summed MSE (PKD's β: 100 to 500)."""


TinyBERTPart = Literal["embeddings", "attentions", "hidden", "prediction"]


class TinyBERTObjective(Section):
    """TinyBERT (Jiao et al. 2020): MSE of the embedding output, of each mapped layer's
    attention scores and of its hidden states (through a learned projection when the widths
    differ), and a soft cross-entropy of the predictions. Stage by stage, XtremeDistil-style
    recipes choose the parts: `[hidden]` on a transfer set, then `[prediction]`."""

    layers: LayerMap = "uniform"
    """Student layer → teacher layer for the attention and hidden parts."""
    parts: Annotated[list[TinyBERTPart], Field(min_length=1)] = [
        "embeddings", "attentions", "hidden", "prediction"]
    """Which of the four losses to add."""
    project: bool = True
    """Learn a linear map from the student's width to the teacher's for the embedding and
    hidden parts (trained with the student, dropped from exports). Without it the widths must
    be equal."""
    temperature: Annotated[float, Field(gt=0.0)] = 1.0
    """Temperature of the prediction part."""
    weight: Weight = 1.0
    """Weight of the summed parts."""


class MiniLMObjective(Section):
    """MiniLM (Wang et al. 2020): KL divergence between the teacher's and the student's
    self-attention distributions and value relations (softmax of scaled value-value dot
    products) of the last layer, per head; the widths may differ, the head counts must not."""

    teacher_layer: Annotated[int, Field(ge=1)] | Literal["last"] = "last"
    """The teacher layer the student's last layer learns from (MiniLM v1: the last)."""
    relations: Annotated[list[Literal["attention", "value"]], Field(min_length=1)] = [
        "attention", "value"]
    """Which relations to match."""
    weight: Weight = 1.0
    """Weight of the summed KL terms."""


class Objectives(Section):
    """What the student learns from one teacher; each present key adds its loss."""

    logits: LogitsObjective | None = None
    pkd: PKDObjective | None = None
    tinybert: TinyBERTObjective | None = None
    minilm: MiniLMObjective | None = None

    def names(self) -> list[str]:
        return [k for k in ("logits", "pkd", "tinybert", "minilm") if getattr(self, k)]


class Teacher(Section):
    """A frozen model the student learns from: a finished run or an exported bundle (`source`),
    or a bare pretrained encoder (`encoder`, for representation objectives only). It must read
    the same word pieces as the student (the same vocabulary)."""

    source: str | None = None
    """A finished run directory or an exported bundle, relative to the recipe file; `${VAR}`
    expands. Its best checkpoint is used unless `checkpoint: last`."""
    checkpoint: Literal["best", "last"] = "best"
    """Which of a run's checkpoints to load (a bundle has one)."""
    model: str | None = None
    """Instead of `source`: a pretrained model folder or alias (e.g. `mpnet-base`), used as a
    bare encoder (no head: hidden-state, attention and value objectives only)."""
    encoder: Name | None = None
    """The teacher's encoder the representation objectives read. Default: its only encoder,
    or the one its first head reads."""
    student: Name | None = None
    """The student encoder the representation objectives train. Default: the recipe's only
    `hf` encoder, or the one its first head reads."""
    weight: Annotated[float, Field(gt=0.0)] = 1.0
    """Weight of this teacher's objectives when several teachers teach."""
    objectives: Objectives = Objectives()
    """The losses the student learns from this teacher."""


@METHOD_TYPES.register
class DistillMethod(Section):
    """The student's task loss plus what every declared teacher teaches (`teachers:`)."""

    type: Literal["distill"]
    hard: Weight = 1.0
    """Weight of the student's own task loss (a logits objective's `alpha` scales it further);
    0 learns from the teachers alone."""
    weighting: Literal["none", "domain_expertise"] = "none"
    """Per-example weights of every loss: `domain_expertise` (MetaKD) weights an example by how
    well the teacher knows its domain: the teacher's probability of the true label times the
    example's typicality (cosine to its class prototype in the teacher's features), normalised
    to mean 1 per batch. Needs a teacher with a head and labelled rows."""
    cache: bool = True
    """Keep the teachers' outputs for each training example on disk (memory-mapped, keyed by
    the teacher's fingerprint and the tokenised data), so each example's teacher forward runs
    once, not once per epoch. `etdecl plan` prints its size."""
    cache_dir: str | None = None
    """Where the cache lives, relative to the recipe file. Default: `teacher-outputs` in etdecl's
    cache folder (`$ETDECL_CACHE`, else `~/.cache/etdecl`)."""


class Temperature(Section):
    """The Gumbel-softmax temperature, annealed geometrically from `start` to `end` over the
    training's steps."""

    start: Annotated[float, Field(gt=0.0)] = 1.0
    end: Annotated[float, Field(gt=0.0)] = 0.1


@METHOD_TYPES.register
class AdaBERTMethod(DistillMethod):
    """AdaBERT's search (Chen et al. 2020): the `adabert` encoder's cells are searched under
    distillation. The weights learn from `distill`'s loss (task + what the teachers teach) on
    the training rows; the architecture weights, in turn, learn from the same loss plus
    `efficiency` × the expected cost of the ops on a held-out share of them (first-order
    DARTS, one architecture step before every weight step). The derived architecture is
    written to the run directory's `architecture.yaml` at every evaluation."""

    type: Literal["adabert"]  # type: ignore[assignment]
    efficiency: Annotated[float, Field(ge=0.0)] = 0.05
    """β: weight of the efficiency loss (the ops' expected parameters and MACs, 0..1)."""
    arch_lr: Annotated[float, Field(gt=0.0, le=1.0)] = 3.0e-3
    """Learning rate of the architecture weights' Adam."""
    arch_weight_decay: Annotated[float, Field(ge=0.0)] = 1.0e-3
    arch_share: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2
    """Share of the training rows held out for the architecture steps (seeded; the weights
    never train on them)."""
    temperature: Temperature = Temperature()
    """Gumbel-softmax temperature: high mixes the ops evenly, low picks one."""
    top_k: Annotated[int, Field(ge=1)] = 2
    """Edges each derived node keeps (those whose best non-zero op weighs most)."""


DISTILLING = ("distill", "adabert")
"""The methods that run the teachers of `teachers:`."""


@METHOD_TYPES.register
class MetaTeacherMethod(Section):
    """MetaKD's meta-teacher (Pan et al. 2021, after MetaFT): trained over every domain, each
    example weighted by its typicality (how close it is to its class's prototypes in the other
    domains), plus a domain-corruption loss that makes the features hide the domain."""

    type: Literal["meta_teacher"]
    typicality: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    """Mix of the example's own-domain prototype similarity (1) and the other domains' (0)."""
    corruption: Weight = 0.1
    """Weight of the domain-corruption loss (a domain classifier trained on shuffled domain
    labels through the shared features)."""
    refresh: Literal["epoch", "once"] = "epoch"
    """When the class prototypes are recomputed from the current encoder."""


@METHOD_TYPES.register
class MetaDTLMethod(Section):
    """MetaDTL (Wang et al. 2021): a meta-learner over several tasks with different label sets
    (one classify head and dataset per task, one shared encoder). Each example's task loss is
    weighted by its typicality across tasks: how close its pooled feature is to its own
    class's prototype, mixed with its highest cosine to another task's class prototype (how
    transferable it is); plus a task-corruption loss that makes the features hide the task."""

    type: Literal["meta_dtl"]
    typicality: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    """Mix of the example's own-class prototype similarity (1) and its closest other-task class
    prototype (0)."""
    corruption: Weight = 0.1
    """Weight of the task-corruption loss (a task classifier trained on shuffled task ids
    through the shared features)."""
    refresh: Literal["epoch", "once"] = "epoch"
    """When the class prototypes are recomputed from the current encoder."""


StageMethodConfig = METHOD_TYPES.union()
"""Every method registered so far (all built-ins: this module and `schema_train` hold them)."""


class Stage(Section):
    """One stage of a staged training: its own data, method, objectives, frozen layers and
    epochs. Each stage starts from the previous one's weights; the run directory keeps every
    stage's checkpoints and metrics under `stages/<index>-<name>/`."""

    name: Name
    data: Name | Annotated[list[Name], Field(min_length=1)] | None = None
    """Dataset(s) under `data.sets` whose training rows this stage reads. Default: all."""
    method: StageMethodConfig | None = None
    """The training method of this stage (e.g. MetaFT: `meta_teacher` over every domain, then
    `supervised` on the target's rows). Default: the recipe's `method:`."""
    objectives: dict[Name, Objectives] | None = None
    """Teacher → the objectives of this stage (teachers not listed teach nothing in it).
    Default: the objectives declared under `teachers:`."""
    hard: Weight | None = None
    """Weight of the student's task loss in this stage (`distill`). Default: `method.hard`."""
    epochs: Annotated[int, Field(ge=1)] | None = None
    """Default: `train.epochs`."""
    max_steps: Annotated[int, Field(ge=1)] | None = None
    lr: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    """Default: `train.lr`."""
    freeze: dict[Name, Annotated[int, Field(ge=0)]] = {}
    """Encoder → its bottom layers kept fixed in this stage (replaces `freeze_layers`)."""
    unfreeze: Literal["none", "gradual"] = "none"
    """`gradual`: the student encoders' layers start frozen but the top one and thaw one more
    from the top at equal intervals of the stage (embeddings last), as XtremeDistil does."""
    start: Literal["last", "best", "derived"] = "last"
    """Which checkpoint of the previous stage this one starts from; `derived`: none, the
    previous stage was an AdaBERT search and its derived cells train from scratch (its
    `architecture.yaml` becomes every searched encoder's `architecture`)."""
