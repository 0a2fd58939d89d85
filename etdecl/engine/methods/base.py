"""The method interface the trainer delegates to (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from ...tasks.base import Task


@dataclass
class LossParts:
    """A step's loss: `total` is differentiated; `parts` (detached) are logged by name."""

    total: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class MethodContext:
    """What a method may read about the run: the tasks by head name, the heads of each
    dataset, and per-dataset sizes (selectors and per-example weights address examples by
    dataset id and index)."""

    tasks: dict[str, Task]
    heads_of: dict[int, list[str]]
    """Dataset id → the heads it trains."""
    head_weight: dict[str, float]
    dataset_sizes: dict[int, int] = field(default_factory=dict)
    recipe: Any = None
    train_data: list[Any] = field(default_factory=list)
    """The training DatasetFeatures, in dataset-id order (their `domains`: name → id; teacher
    caches, MetaKD prototypes)."""
    graph: Any = None
    """The (unboosted) ModelGraph: a method may set encoder flags, `graph.expose` and
    `graph.extra_forward` before boosting, to compute inside forward where sharded plugins hold
    the parameters."""
    loaded: Any = None
    """The LoadedRecipe (paths relative to the recipe file, e.g. teachers' sources)."""
    selection: Any = None
    """The run's instance selectors (`engine/selectors`), whose per-row keep weights multiply
    the method's example weights in `head_losses`; None without `selectors:`."""
    run_dir: Any = None
    """The run directory (a method may write files there, e.g. AdaBERT's architecture)."""
    is_main: bool = True
    """Whether this process is rank 0 (the one that writes files)."""


class Method:
    """Base: no extra modules, no state, no example weights; subclasses define `loss`."""

    def __init__(self, cfg: Any, ctx: MethodContext) -> None:
        self.cfg = cfg
        self.ctx = ctx

    def extra_modules(self) -> dict[str, nn.Module]:
        """Trainable modules beside the graph (discriminators, projections); the trainer adds
        them to the graph before boosting, so every plugin shards and checkpoints them."""
        return {}

    def frozen_models(self) -> dict[str, nn.Module]:
        """Models that are run but never trained (teachers)."""
        return {}

    def example_weights(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Per-feature loss weights of a batch (None: all 1)."""
        return None

    def loss(self, outputs: dict[str, torch.Tensor],
             batch: dict[str, torch.Tensor]) -> LossParts:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def on_step_start(self, step: int, total: int) -> None:
        """Before step `step` (0-based) of `total`: e.g. anneal a temperature."""

    def on_step_end(self, step: int) -> None:
        pass

    # ── bilevel methods (AdaBERT): a second set of parameters, stepped on held-out rows ──

    def held_out_share(self) -> float:
        """Share of the training rows the trainer holds out of the weights' batches and
        gives to `outer_loss` instead, one batch before every weight step (0: none)."""
        return 0.0

    def outer_loss(self, outputs: dict[str, torch.Tensor],
                   batch: dict[str, torch.Tensor]) -> LossParts:
        """The loss of a held-out batch, which `outer_step` descends."""
        return self.loss(outputs, batch)

    def outer_zero_grad(self) -> None:
        """Clear the outer parameters' gradients (the weight step leaves some there)."""

    def outer_step(self) -> None:
        """Step the outer parameters with the gradients of `outer_loss`."""

    def on_train_end(self, step: int) -> None:
        """After the last step of this launch (`step`: steps taken, finished or stopped)."""

    def on_epoch_end(self, epoch: int) -> None:
        """Called after the last step of each epoch (`epoch`: the number of finished epochs),
        before that step's evaluation and checkpoint."""

    def on_eval(self, step: int, metrics: dict[str, Any]) -> None:
        pass

    def summary(self) -> list[tuple[str, str]]:
        """Rows the method adds to summary.md (e.g. the teacher cache's hit rate)."""
        return []


def head_losses(method: Method, outputs: dict[str, torch.Tensor],
                batch: dict[str, torch.Tensor]) -> LossParts:
    """The weighted task losses of the heads that had targets in this batch (the graph put
    their per-example losses in `<head>.loss`), reduced with the method's example weights.

    Heads that ran without targets (another dataset's heads) add 0 × their outputs, so every
    parameter takes part in every step (data-parallel plugins require it). Every `aux.*` output
    (a tower's adversarial, orthogonality or DRSS loss) is added and logged as `loss.*`.
    """
    weights = method.example_weights(batch)
    parts: dict[str, torch.Tensor] = {}
    selection = method.ctx.selection
    if selection is not None:  # instance selectors: dropped source rows weigh 0
        kept = selection.weights(outputs, batch)
        if kept is not None:
            weights = kept if weights is None else weights * kept
        parts.update({k: torch.tensor(v) for k, v in selection.stats.items()})
    total = torch.zeros((), dtype=torch.float32)
    for name in method.ctx.tasks:
        per = outputs.get(f"{name}.loss")
        if per is None:
            mine = [v for k, v in outputs.items() if k.startswith(name + ".")
                    and v.is_floating_point()]
            if mine:
                total = total + sum(0.0 * v.float().sum() for v in mine)
            continue
        if weights is not None:
            value = (per * weights).sum() / weights.sum().clamp_min(1e-12)
        else:
            value = per.mean()
        parts[f"loss.{name}"] = value.detach()
        total = total + method.ctx.head_weight.get(name, 1.0) * value
    for key, value in outputs.items():  # towers' extra losses, already weighted
        if key.startswith("aux."):
            parts["loss." + key[4:]] = value.detach().float()
            total = total + value.float()
    return LossParts(total, parts)
