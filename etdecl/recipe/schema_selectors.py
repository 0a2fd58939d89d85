"""The recipe's `selectors:` section: the EasyTransfer paper's instance-based family (its
Table 9), which decides which source examples train the model for a target domain.

A selector reads the training rows of one dataset (`source`) and judges those of the source
domains; rows of the target domain (from any dataset) are always trained on and show the
selector what the target looks like; the run's selection metric (`train.metric`, by default
the first head's primary metric on the target domain) scores its choices.

- `bayes` (Ruder & Plank 2017): before training, per-example similarity and diversity features
  to the target, combined by a weight vector tuned by Bayesian optimisation (optuna's TPE) on
  the target dev metric of a fast proxy model; the run trains on the top `keep` examples.
- `reinforced` (RTL, Qu et al. 2019): a policy network keeps or drops each source example of a
  batch from its state (the model's features of it, its prediction and loss); an episode runs
  from one evaluation to the next and its reward is the change of the target dev metric, less
  a moving-average baseline (REINFORCE).
- `minimax` (MGTL, Wang et al. 2019): `reinforced` plus a discriminator between kept source
  examples and target examples, whose belief that a kept example is from the target is an
  immediate reward every step.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .registry import SELECTOR_TYPES
from .section import Name, Section

Positive = Annotated[float, Field(gt=0.0)]


class SelectorBase(Section):
    source: Name | None = None
    """Dataset (under `data.sets`) whose training rows the selector chooses from. Default: the
    only dataset, or the one named `source`."""
    domains: Annotated[list[Name], Field(min_length=1)] | None = None
    """Source domains it chooses among. Default: every domain of `source`'s rows but the
    target's (rows of a domain not listed are trained on as they are)."""
    target_domain: Name | None = None
    """The domain the selection is for. Default: `data.target_domain`."""


BayesFeature = Literal[
    "embedding_cosine", "js_divergence", "renyi_divergence", "term_cosine", "euclidean",
    "variational", "bhattacharyya", "types", "type_token_ratio", "entropy", "simpson",
    "renyi_entropy",
]
"""Ruder & Plank's features: similarity of an example to the target (`embedding_cosine`: its
pooled encoder features to the target centroid; the rest: its word-piece distribution to the
target's) and the example's own diversity (`types` .. `renyi_entropy`)."""

ALL_BAYES_FEATURES: tuple[str, ...] = BayesFeature.__args__  # type: ignore[attr-defined]


@SELECTOR_TYPES.register
class BayesSelector(SelectorBase):
    """Ruder & Plank (2017): score every source example by a weighted sum of its similarity
    and diversity features to the target; the weights are tuned by Bayesian optimisation on
    the target dev metric of a proxy model (logistic regression on the encoder's pooled
    features, trained on the top examples plus the target's); train on the top `keep`."""

    type: Literal["bayes"]
    keep: Annotated[float, Field(gt=0.0)] = 0.5
    """How many source examples to train on: a share of them (≤ 1) or a count (> 1)."""
    trials: Annotated[int, Field(ge=1, le=10_000)] = 40
    """Bayesian-optimisation trials (each fits the proxy model once)."""
    features: Annotated[list[BayesFeature], Field(min_length=1)] = list(ALL_BAYES_FEATURES)
    """Which features the score combines."""
    seed: int | None = None
    """Seed of the optimiser. Default: `train.seed`."""


class PolicyConfig(Section):
    """The selector's policy network: state → probability of keeping the example."""

    hidden: Annotated[int, Field(ge=1)] = 64
    lr: Positive = 1.0e-2
    """Adam learning rate of the policy (its own optimiser, not the model's). High because it
    takes one step per episode, and a short training has few episodes."""
    baseline_decay: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.8
    """Moving average of past episode rewards subtracted from each reward (variance
    reduction)."""
    reward_scale: Positive = 10.0
    """Multiplies the change of the dev metric (a few points of accuracy) into a reward of
    order 1."""
    entropy: Annotated[float, Field(ge=0.0)] = 0.0
    """Bonus on the policy's entropy (keeps it from deciding too early)."""
    initial_keep: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.9
    """Keep probability the policy starts from (its output bias), so early training sees most
    source rows."""


@SELECTOR_TYPES.register
class ReinforcedSelector(SelectorBase):
    """RTL (Qu et al. 2019): a policy network keeps or drops each source example of a batch;
    REINFORCE with the change of the target dev metric between evaluations as a delayed reward
    (episodes end at each evaluation, `train.eval_every`)."""

    type: Literal["reinforced"]
    policy: PolicyConfig = PolicyConfig()


class DiscriminatorConfig(Section):
    """MGTL's discriminator between kept source examples and target examples."""

    hidden: Annotated[int, Field(ge=1)] = 64
    lr: Positive = 1.0e-3
    weight: Annotated[float, Field(ge=0.0)] = 1.0
    """Weight of its immediate reward beside the delayed one."""
    memory: Annotated[int, Field(ge=1)] = 256
    """Recent target examples' features it keeps to compare source batches with."""


@SELECTOR_TYPES.register
class MinimaxSelector(SelectorBase):
    """MGTL (Wang et al. 2019): `reinforced` plus a discriminator telling kept source examples
    from target ones; how target-like it finds a kept example is an immediate reward each step,
    while it learns to tell them apart (a minimax game), besides the delayed reward."""

    type: Literal["minimax"]
    policy: PolicyConfig = PolicyConfig()
    discriminator: DiscriminatorConfig = DiscriminatorConfig()
