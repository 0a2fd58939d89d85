"""The recipe language as pydantic models: one model per YAML section, unknown keys forbidden.

These models are structural only (types, ranges, defaults, descriptions). Rules that relate two
keys live in `check.py` as small named functions, so their messages can point at both places.
The `type:` unions come from the registries in `registry.py`; the JSON Schema in `schemas/` is
generated from these models by `etdecl schema`.

The sections live in their own modules; this one assembles the recipe and re-exports them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

# the built-in component types: importing these modules registers them (the explicit list)
from . import (  # noqa: F401
    schema_components,
    schema_selectors,
    schema_teachers,
    schema_towers,
    schema_train,
)
from .registry import ENCODER_TYPES, HEAD_TYPES, METHOD_TYPES, SELECTOR_TYPES, TOWER_TYPES
from .schema_components import (
    BiLSTMEncoder,
    ClassifyHead,
    HFEncoder,
    MatchHead,
    SpanHead,
    TagHead,
    TextCNNEncoder,
)
from .schema_data import DataConfig, Dataset, DataSource, FieldMap
from .schema_teachers import Stage, Teacher
from .schema_train import ParallelConfig, SupervisedMethod, TrainConfig
from .section import Name, Section

FORMAT_VERSION = 1
SCHEMA_ID = "https://etdecl.dev/schemas/recipe.schema.json"

EncoderConfig = ENCODER_TYPES.union()
HeadConfig = HEAD_TYPES.union()
TowerConfig = TOWER_TYPES.union()
MethodConfig = METHOD_TYPES.union()
SelectorConfig = SELECTOR_TYPES.union()

__all__ = [
    "FORMAT_VERSION", "SCHEMA_ID", "BiLSTMEncoder", "ClassifyHead", "DataConfig", "DataSource",
    "Dataset", "EncoderConfig", "FieldMap", "HFEncoder", "HeadConfig", "MatchHead",
    "MethodConfig", "Name", "ParallelConfig", "Recipe", "Section", "SelectorConfig", "SpanHead",
    "Stage", "SupervisedMethod", "TagHead", "Teacher", "TextCNNEncoder", "TowerConfig",
    "TrainConfig",
]


def _version_not_bool(value: object) -> object:
    """`etdecl: true` equals 1 in Python; a version is a number, so refuse booleans."""
    if isinstance(value, bool):
        raise PydanticCustomError("literal_error", "Input should be 1", {"expected": "1"})
    return value


class Recipe(Section):
    """An etdecl recipe: data, encoders, heads, a training method, a parallel plan and a
    training loop."""

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
    towers: dict[Name, TowerConfig] = {}
    """Named towers between encoders and heads (shared, private per domain, shared-private,
    DRSS), each reading encoders or other towers; heads may read them like encoders."""
    heads: Annotated[dict[Name, HeadConfig], Field(min_length=1)]
    """Named task heads, each reading an encoder (or a list of them) and one or more datasets."""
    teachers: dict[Name, Teacher] = {}
    """Named frozen models the student learns from (`method: distill`): finished runs, bundles
    or pretrained encoders, each with its objectives (logits, pkd, tinybert, minilm)."""
    selectors: dict[Name, SelectorConfig] = {}
    """Named instance selectors (the paper's Table 9): each chooses which source-domain rows
    of a dataset train the model for the target domain (`bayes`, `reinforced`, `minimax`)."""
    method: MethodConfig = SupervisedMethod(type="supervised")
    """How the loss is made from the heads' outputs (`supervised`: each head's task loss;
    `distill`: plus the teachers' objectives; `meta_teacher`: MetaKD's meta-teacher)."""
    stages: list[Stage] = []
    """Train in stages, in order, each from the previous one's weights (e.g. XtremeDistil:
    hidden states, then logits, then fine-tuning). Empty: one stage, the recipe as written."""
    parallel: ParallelConfig = ParallelConfig()
    train: TrainConfig = TrainConfig()
