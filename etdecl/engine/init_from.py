"""`train.init_from`: start a run from a finished run's (or a bundle's) weights.

Fine-tuning in stages (train on a source, then on a target) needs the second run to begin where
the first ended. The source is opened like `etdecl evaluate` opens it (`load_model`: a run's best
checkpoint, safetensors only, or a bundle), and every weight of the new graph that the source has
under the same name with the same shape is copied in; the rest stay as built (a head with other
labels, a tower the source lacked). This runs on the plain graph before the plugin boosts it, so
every plugin then shards or wraps weights that are already loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..recipe.check_init import AT, init_path
from ..recipe.errors import Problem, RecipeError
from ..recipe.loaded import LoadedRecipe

SHOWN = 20
"""Names listed in result.json per group (the counts are always complete)."""


@dataclass
class InitReport:
    """What `init_from` did: weights loaded, kept as built, and source weights left unused."""

    source: str
    checkpoint: str
    loaded: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """Weights of the new graph the source lacks, or has with another shape."""
    skipped: list[str] = field(default_factory=list)
    """Weights of the source the new graph lacks, or has with another shape."""
    reshaped: list[str] = field(default_factory=list)
    """Names both have, with different shapes (in `kept` and `skipped`)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "checkpoint": self.checkpoint,
            "loaded": len(self.loaded), "kept": len(self.kept), "skipped": len(self.skipped),
            "kept_names": self.kept[:SHOWN], "skipped_names": self.skipped[:SHOWN],
            "reshaped_names": self.reshaped[:SHOWN],
        }

    def line(self) -> str:
        return (f"{len(self.loaded)} weights loaded, {len(self.kept)} kept as built, "
                f"{len(self.skipped)} of the source's skipped")


def _error(loaded: LoadedRecipe, message: str, **kw: Any) -> RecipeError:
    return RecipeError([Problem(message, loc=loaded.where(*AT), path="train.init_from", **kw)])


def source_weights(loaded: LoadedRecipe) -> tuple[dict[str, torch.Tensor], Path, Path]:
    """(state dict, source path, checkpoint file) of `train.init_from`, opened like `evaluate`
    opens a run or bundle. Raises RecipeError located at `train.init_from`."""
    from .inference import RunError, load_model

    try:
        path = init_path(loaded)
    except KeyError as err:
        raise _error(loaded, f"environment variable {err.args[0]} is not set and has no "
                     "default") from None
    try:
        run = load_model(path, loaded.recipe.train.init_checkpoint)
    except RunError as err:
        raise _error(loaded, f"cannot start from it: {err}") from None
    return run.compiled.model.state_dict(), path, run.checkpoint


def load_matching(model: nn.Module, source: dict[str, torch.Tensor]) -> InitReport:
    """Copy into `model` every weight (parameter or buffer) `source` has with the same name and
    shape; an alias of a tied weight counts as loaded when the tensor it shares was."""
    own = model.state_dict(keep_vars=True)
    report = InitReport("", "")
    take: dict[str, torch.Tensor] = {}
    for name, tensor in own.items():
        theirs = source.get(name)
        if theirs is None:
            continue
        if tuple(theirs.shape) != tuple(tensor.shape):
            report.reshaped.append(name)
            continue
        take[name] = theirs
    model.load_state_dict(take, strict=False)
    loaded_storage = {own[n].data_ptr() for n in take if own[n].numel()}
    for name, tensor in own.items():
        tied = tensor.numel() and tensor.data_ptr() in loaded_storage
        (report.loaded if name in take or tied else report.kept).append(name)
    report.skipped = [n for n in source if n not in take]
    return report


def init_from_source(loaded: LoadedRecipe, model: nn.Module) -> InitReport:
    """Load `train.init_from` into `model` (the plain graph, before boosting). Raises
    RecipeError when no weight matched: the source is surely another model."""
    state, path, checkpoint = source_weights(loaded)
    report = load_matching(model, state)
    report.source, report.checkpoint = str(path), str(checkpoint)
    if not report.loaded:
        example = next(iter(state), "none")
        raise _error(loaded, "no weight of the source matches this graph by name and shape",
                     found=f"{len(state)} source weights (e.g. '{example}'), "
                     f"{len(report.reshaped)} with a matching name but another shape",
                     hint="the encoders and heads must keep the source recipe's names")
    return report
