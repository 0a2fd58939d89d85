"""The task interface: everything that differs between classify, match, tag and span.

A task owns its targets end to end: reading them from a data row (with located errors),
tokenising inputs into features (and aligning targets to word pieces), collating its targets,
building its head, its per-example loss, decoding outputs into user-facing predictions, and its
metrics with a primary metric. The data pipeline, graph and trainer stay task-agnostic.

Losses are per example (shape `(batch,)`), never reduced here: training methods reduce them
with per-example weights (selectors, MetaKD, meta learning) or plain means (supervised).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..components.outputs import EncoderOutput
from ..datafiles.readers import DataError
from ..datafiles.values import as_text

TOKEN_PAD = {"tags": -100}
"""Padding value of per-token arrays (-1 unless named here; -100 is the loss's ignore index)."""


@dataclass(frozen=True)
class Example:
    """One data row as a task sees it.

    inputs: role → value (`text`, `text_pair`, `tokens`, `question`, `context`).
    index: position within its split, so selectors and per-example weights can address it.
    """

    dataset: str
    index: int
    inputs: dict[str, Any]
    targets: dict[str, Any]
    """Head name → gold target in that task's form (empty when predicting)."""
    domain: str | None
    file: str
    line: int


@dataclass
class Features:
    """Tokenised features of one split for one tokenizer: variable-length rows stored flat.

    A feature is usually one example; span tasks cut long contexts into several windows, and
    `example` maps each feature back. `views` holds extra token rows per feature (a siamese
    matcher encodes its second text separately as view `b`).
    """

    ids: np.ndarray
    type_ids: np.ndarray
    offsets: np.ndarray
    example: np.ndarray
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-feature targets (`label`, `start`, `end`)."""
    tokens: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-token arrays stored flat beside `ids`: tag targets, word index of first pieces,
    character offsets of context tokens (span decoding)."""
    views: dict[str, Features] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.example)

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Flat name → array mapping, for the token cache (numpy, no pickle)."""
        out = {f"{prefix}ids": self.ids, f"{prefix}type_ids": self.type_ids,
               f"{prefix}offsets": self.offsets, f"{prefix}example": self.example}
        for k, v in self.targets.items():
            out[f"{prefix}target.{k}"] = v
        for k, v in self.tokens.items():
            out[f"{prefix}token.{k}"] = v
        for name, view in self.views.items():
            out.update(view.arrays(f"{prefix}view.{name}."))
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "") -> Features:
        def under(group: str) -> dict[str, np.ndarray]:
            head = f"{prefix}{group}."
            return {k[len(head):]: v for k, v in arrays.items() if k.startswith(head)}

        views = sorted({k[len(prefix) + 5 :].split(".")[0] for k in arrays
                        if k.startswith(prefix + "view.")})
        return cls(
            arrays[prefix + "ids"], arrays[prefix + "type_ids"], arrays[prefix + "offsets"],
            arrays[prefix + "example"], under("target"), under("token"),
            {v: cls.from_arrays(arrays, f"{prefix}view.{v}.") for v in views},
        )


def flat_features(
    rows: Sequence[Sequence[int]], type_rows: Sequence[Sequence[int]], example: Sequence[int]
) -> Features:
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(r) for r in rows])
    cat = np.fromiter((t for r in rows for t in r), dtype=np.int32, count=int(offsets[-1]))
    tcat = np.fromiter((t for r in type_rows for t in r), dtype=np.int8, count=int(offsets[-1]))
    return Features(cat, tcat, offsets, np.asarray(example, dtype=np.int64))


def row_value(values: dict[str, Any], name: str, role: str, file: str, line: int) -> Any:
    if name not in values:
        raise DataError(file, line, f"missing field '{name}' ({role})", f"missing field '{name}'")
    return values[name]


def row_text(values: dict[str, Any], name: str, role: str, file: str, line: int) -> str:
    value = row_value(values, name, role, file, line)
    if not isinstance(value, str):
        raise DataError(file, line,
                        f"field '{name}' ({role}) must be a string, found {type(value).__name__}",
                        f"field '{name}' is not a string")
    if not value.strip():
        raise DataError(file, line, f"field '{name}' ({role}) is empty",
                        f"field '{name}' is empty")
    if bad := _SURROGATE.search(value):  # JSON may escape one ("\ud800"); no tokenizer takes it
        raise DataError(file, line, f"field '{name}' ({role}) holds a lone surrogate "
                        f"(\\u{ord(bad.group()):04x}), which is not text",
                        f"field '{name}' is not text")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def label_name(raw: Any) -> str:
    """Labels are compared as strings; JSON booleans as YAML spells them."""
    return as_text(raw)


class Task(ABC):
    """One head's task. Subclasses register under their recipe `type:` name."""

    kind: ClassVar[str]
    roles: ClassVar[tuple[str, ...]]
    """Field roles every row must have (besides the target's)."""
    target_roles: ClassVar[tuple[str, ...]]
    """Field roles holding the target (not needed when predicting)."""
    token_level: ClassVar[bool] = False
    """Needs per-token encoder states (tag, span), not only the pooled vector."""
    metric_names: ClassVar[tuple[str, ...]]
    primary_metric: ClassVar[str]

    def __init__(self, name: str, cfg: Any, fields: Any) -> None:
        self.name = name
        self.cfg = cfg
        self.fields = fields
        self.domains: tuple[str, ...] = ()
        """`data.domains` when this head reads a tower that routes rows by domain (set at
        compile time): predicting then needs each row's domain field."""

    def check_domain(self, values: dict[str, Any], file: str, line: int) -> None:
        """Refuse a row a domain-routing tower could not route: no domain field, or a domain
        outside `data.domains` (rows of a dataset with a fixed `domain:` need none)."""
        name = getattr(self.fields, "domain", None)
        if not self.domains or name is None:
            return
        if name not in values:
            raise DataError(file, line, f"missing field '{name}' (domain): head "
                            f"'{self.name}' reads a tower with a part per domain",
                            f"missing field '{name}'")
        value = as_text(values[name])
        if value not in self.domains:
            raise DataError(file, line, f"field '{name}' (domain) is '{value}', not one of "
                            f"data.domains ({', '.join(self.domains)})",
                            f"unknown domain '{value}'")

    def gold(self, example: Example) -> Any:
        """This head's target of an example (None when predicting)."""
        return example.targets.get(self.name)

    def add_targets(self, feats: Features, examples: Sequence[Example]) -> None:
        """Add this head's targets to features another head of its dataset encoded."""
        raise NotImplementedError(f"{self.kind} heads cannot share a dataset")

    def field(self, role: str) -> str:
        """Column name of a role in this head's data (the recipe's `fields` mapping)."""
        return getattr(self.fields, role) or role

    def input_fields(self) -> dict[str, str]:
        """Role → column name of every field this head reads when predicting (what a bundle's
        manifest and a server's /info tell clients to send)."""
        out = {role: self.field(role) for role in self.roles}
        if self.domains and getattr(self.fields, "domain", None):
            out["domain"] = self.fields.domain
        return out

    # ── data ───────────────────────────────────────────────────────────────────────────────
    @abstractmethod
    def read_inputs(self, values: dict[str, Any], file: str, line: int) -> dict[str, Any]: ...

    @abstractmethod
    def read_target(self, values: dict[str, Any], file: str, line: int) -> Any: ...

    @abstractmethod
    def encode(self, examples: Sequence[Example], tokenizer: Any, max_length: int) -> Features: ...

    def collate_targets(self, feats: Features, index: np.ndarray, width: int,
                        with_targets: bool = True) -> dict[str, torch.Tensor]:
        """A batch's targets, keyed `<head>.<target>`; per-token arrays (`<head>.token.<name>`)
        padded to `width` with TOKEN_PAD. Without targets (prediction), only the arrays
        decoding needs."""
        out = {k: torch.from_numpy(v[index]) for k, v in feats.targets.items()
               if with_targets and k.startswith(self.name + ".")}
        starts, ends = feats.offsets[index], feats.offsets[np.asarray(index) + 1]
        for name, flat in feats.tokens.items():
            if not with_targets and f"token.{name}" in self.target_keys:
                continue
            arr = np.full((len(index), width), TOKEN_PAD.get(name, -1), dtype=np.int64)
            for row, (s, e) in enumerate(zip(starts, ends, strict=True)):
                arr[row, : e - s] = flat[s:e]
            out[f"{self.name}.token.{name}"] = torch.from_numpy(arr)
        return out

    # ── model ──────────────────────────────────────────────────────────────────────────────
    @abstractmethod
    def build_head(self, width: int) -> nn.Module:
        """A module mapping the head's input (an EncoderOutput) to named output tensors."""

    @abstractmethod
    def loss(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
             head: nn.Module) -> torch.Tensor:
        """Per-feature loss, shape (batch,). Called inside the graph's forward (sharded plugins
        only materialise parameters there), when the batch carries this head's targets."""

    target_keys: ClassVar[tuple[str, ...]] = ("label",)
    """Batch keys (after `<head>.`) that carry the gold targets."""

    def in_batch(self, batch: dict[str, torch.Tensor]) -> bool:
        """The batch comes from this head's dataset (it carries this head's arrays)."""
        return any(k.startswith(self.name + ".") for k in batch)

    def has_targets(self, batch: dict[str, torch.Tensor]) -> bool:
        return all(f"{self.name}.{k}" in batch for k in self.target_keys)

    def eval_outputs(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
                     head: nn.Module) -> dict[str, torch.Tensor]:
        """Extra outputs computed inside forward at evaluation (e.g. a CRF's Viterbi path)."""
        return {}

    # ── evaluation ─────────────────────────────────────────────────────────────────────────
    @abstractmethod
    def gather(self, outputs: dict[str, torch.Tensor],
               batch: dict[str, torch.Tensor]) -> list[Any]:
        """Per-feature raw results of one batch, in batch order (small, picklable)."""

    @abstractmethod
    def decode(self, results: list[Any], feats: Features,
               examples: Sequence[Example]) -> list[dict[str, Any]]:
        """One user-facing prediction per example from all of its features' results."""

    @abstractmethod
    def metrics(self, predictions: list[dict[str, Any]],
                examples: Sequence[Example]) -> dict[str, float]:
        """Scores of decoded predictions against the examples' targets."""


def encoder_input(out: EncoderOutput | list[EncoderOutput]) -> EncoderOutput:
    """A head reading several nodes sees them concatenated (pooled and token states)."""
    if isinstance(out, EncoderOutput):
        return out
    if len(out) == 1:
        return out[0]
    return EncoderOutput(
        torch.cat([o.pooled for o in out], -1), torch.cat([o.tokens for o in out], -1),
        out[0].mask,
    )
