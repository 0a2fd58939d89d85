"""Towers a recipe can declare between encoders and heads (feature-based transfer, after the
EasyTransfer paper's FullyShared, SharedPrivate and DRSS families), each registered under its
`type:` name. A tower reads nodes (encoders or other towers) and gives one representation that
heads read like an encoder's; domain-aware towers route each row by its domain."""

from __future__ import annotations

import warnings
from typing import Annotated, Literal

from pydantic import Field

from .registry import TOWER_TYPES
from .section import Name, Section


class Adversarial(Section):
    """A domain discriminator (small MLP) on the shared pooled features, trained through a
    gradient-reversal layer so the shared features learn to hide the domain (Ganin et al.)."""

    weight: Annotated[float, Field(gt=0.0)] = 0.1
    """Weight of the discriminator's cross-entropy in the total loss."""
    schedule: Literal["constant", "dann"] = "dann"
    """Reversal scale: `constant` 1, or DANN's 2/(1+exp(−gamma·p))−1 rising with training
    progress p (0..1)."""
    gamma: Annotated[float, Field(gt=0.0)] = 10.0
    """Steepness of the `dann` schedule."""
    hidden: Annotated[int, Field(ge=1)] = 128
    """Hidden units of the discriminator."""


class SmallTextCNN(Section):
    """A TextCNN per domain over the shared encoder's embedding output."""

    type: Literal["textcnn"]
    widths: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)] = [3, 4, 5]
    """Convolution widths, in word pieces."""
    channels: Annotated[int, Field(ge=1)] = 100
    """Filters per width; the output width is channels × len(widths)."""
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    """Dropout on its input and outputs."""


class SmallBiLSTM(Section):
    """A BiLSTM per domain over the shared encoder's embedding output."""

    type: Literal["bilstm"]
    hidden: Annotated[int, Field(ge=1)] = 128
    """Hidden units per direction; the output width is twice this."""
    layers: Annotated[int, Field(ge=1)] = 1
    """Stacked LSTM layers."""
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    """Dropout on its input and outputs."""


SmallConfig = Annotated[SmallTextCNN | SmallBiLSTM, Field(discriminator="type")]


class _Tower(Section):
    def inputs(self) -> list[str]:
        """Nodes this tower reads."""
        raise NotImplementedError

    def domain_aware(self) -> bool:
        """Routes rows by domain or reads domain labels (needs `data.domains` and domains in
        the data of every head that reads it)."""
        return False


@TOWER_TYPES.register
class SharedTower(_Tower):
    """One representation for every domain: its input as it is (FullyShared), named so that
    shared-private and DRSS towers, and their adversarial parts, can attach to it."""

    type: Literal["shared"]
    input: Name
    """Node (encoder or tower) every domain shares."""

    def inputs(self) -> list[str]:
        return [self.input]


warnings.filterwarnings("ignore", message='Field name "copy" in "PrivateTower" shadows')
"""`copy:` is the recipe's word; the field hides BaseModel.copy (deprecated) on this class."""


@TOWER_TYPES.register
class PrivateTower(_Tower):
    """One module per declared domain; each row runs through its own domain's module."""

    type: Literal["private"]
    input: Name
    """Encoder the private modules copy or read."""
    per: Literal["domain"] = "domain"
    """What gets its own module: each domain of `data.domains`."""
    copy: Literal["full", "top", "small"] = "full"
    """`full`: a deep copy of the encoder per domain; `top`: copies of its top `top_layers`
    transformer layers over shared lower layers (BERT-family `hf` encoders); `small`: a
    TextCNN or BiLSTM per domain over the encoder's embedding output."""
    top_layers: Annotated[int, Field(ge=1)] = 1
    """Transformer layers copied per domain (`copy: top`)."""
    small: SmallConfig | None = None
    """The per-domain small encoder (`copy: small`)."""

    def inputs(self) -> list[str]:
        return [self.input]

    def domain_aware(self) -> bool:
        return True


@TOWER_TYPES.register
class SharedPrivateTower(_Tower):
    """Shared-private (SS): [shared; private of the row's domain], optionally with a domain
    adversary on the shared part (SS-Adv) and an orthogonality penalty between the two."""

    type: Literal["shared_private"]
    shared: Name
    """Node holding the shared representation (usually a `shared` tower)."""
    private: Name
    """Node holding the domain-private representation (usually a `private` tower)."""
    adversarial: Adversarial | None = None
    """Domain discriminator on the shared pooled features (SS-Adv)."""
    orthogonality: Annotated[float, Field(ge=0.0)] = 0.0
    """Weight w of w·‖SᵀP‖²_F between the batch's shared (S) and private (P) pooled features;
    0 leaves it out."""

    def inputs(self) -> list[str]:
        return [self.shared, self.private]

    def domain_aware(self) -> bool:
        return self.adversarial is not None


@TOWER_TYPES.register
class DRSSTower(_Tower):
    """DRSS: shared features plus a domain-specific layer W_d of the row's domain, output
    [shared; tanh(W_d shared)], with the domains' relationship Ω learned in closed form and
    W·tr(Wᵀ Ω⁻¹ W) as regulariser (DRSS-Adv with `adversarial`)."""

    type: Literal["drss"]
    shared: Name
    """Node holding the shared representation."""
    width: Annotated[int, Field(ge=1)] = 64
    """Output width K of each domain-specific layer."""
    weight: Annotated[float, Field(ge=0.0)] = 0.001
    """Weight of the domain-relationship regulariser tr(Wᵀ Ω⁻¹ W). It grows with the layers'
    size: about 1.7e3 at the start for 4 domains of 64 × 384 (MiniLM) layers."""
    adversarial: Adversarial | None = None
    """Domain discriminator on the shared pooled features (DRSS-Adv)."""

    def inputs(self) -> list[str]:
        return [self.shared]

    def domain_aware(self) -> bool:
        return True
