"""The learning parts of the RL selectors, free of the trainer so they can be tested alone:

- `Policy`: state → probability of keeping a source example; actions are sampled from seeded
  generators; `reinforce` takes one REINFORCE step, −mean(advantage · log π(a|s)) minus an
  entropy bonus, with its own Adam optimiser (RTL, Qu et al. 2019).
- `Discriminator`: features → belief that an example is from the target domain; trained on kept
  source rows (0) against remembered target rows (1); its logit on a kept source example is
  MGTL's immediate reward (Wang et al. 2019): how target-like the selector's choice looks.

Both are tiny MLPs, built in float32 from a seed (a resumed or repeated run builds the same
weights). State (weights and optimiser) is serialised to a base64 string of a `torch.save`
buffer, read back with `weights_only=True`, so it rides in a checkpoint's state.json.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def mlp(width: int, hidden: int, seed: int, bias: float = 0.0) -> nn.Sequential:
    """width → hidden → 1, seeded; the output bias starts at `bias` with small output weights."""
    gen = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(width, hidden), nn.Tanh(), nn.Linear(hidden, 1))
    with torch.no_grad():
        for layer in (net[0], net[2]):
            bound = 1.0 / math.sqrt(layer.in_features)
            layer.weight.uniform_(-bound, bound, generator=gen)
            layer.bias.uniform_(-bound, bound, generator=gen)
        net[2].weight.mul_(0.1)
        net[2].bias.fill_(bias)
    return net


def pack(obj: dict[str, Any]) -> str:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def unpack(text: str) -> dict[str, Any]:
    return torch.load(io.BytesIO(base64.b64decode(text)), weights_only=True)


class Policy:
    """Keep-probability network with its optimiser (REINFORCE)."""

    def __init__(self, width: int, hidden: int, lr: float, seed: int, initial_keep: float,
                 entropy: float = 0.0) -> None:
        self.width = width
        self.net = mlp(width, hidden, seed, bias=math.log(initial_keep / (1 - initial_keep)))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.entropy = entropy

    def probs(self, states: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(states.float()).squeeze(-1))

    @torch.no_grad()
    def act(self, states: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(keep probabilities, sampled 0/1 actions) of each state."""
        p = self.probs(states)
        actions = (torch.rand(len(p), generator=gen) < p).float()
        return p, actions

    def reinforce(self, states: torch.Tensor, actions: torch.Tensor,
                  advantages: torch.Tensor) -> float:
        """One step raising log π(a|s) in proportion to each action's advantage; returns the
        policy loss."""
        if len(states) == 0:
            return 0.0
        logits = self.net(states.float()).squeeze(-1)
        logp = -F.binary_cross_entropy_with_logits(logits, actions.float(), reduction="none")
        loss = -(advantages.float() * logp).mean()
        if self.entropy:
            p = torch.sigmoid(logits)
            ent = -(p * F.logsigmoid(logits) + (1 - p) * F.logsigmoid(-logits))
            loss = loss - self.entropy * ent.mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def state_dict(self) -> dict[str, Any]:
        return {"width": self.width,
                "blob": pack({"net": self.net.state_dict(), "opt": self.opt.state_dict()})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        blob = unpack(state["blob"])
        self.net.load_state_dict(blob["net"])
        self.opt.load_state_dict(blob["opt"])


class Discriminator:
    """Target-versus-kept-source classifier on (detached) features, with a memory of recent
    target rows so a source-only batch can still be compared with the target."""

    def __init__(self, width: int, hidden: int, lr: float, seed: int, memory: int) -> None:
        self.width = width
        self.net = mlp(width, hidden, seed + 1)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.memory = memory
        self.bank = torch.zeros(0, width)

    def remember(self, target: torch.Tensor) -> None:
        if len(target):
            self.bank = torch.cat([self.bank, target.detach().float()])[-self.memory:]

    @torch.no_grad()
    def reward(self, features: torch.Tensor) -> torch.Tensor:
        """The discriminator's logit that each row is from the target: higher = more
        target-like."""
        return self.net(features.float()).squeeze(-1)

    def train_step(self, source: torch.Tensor, gen: torch.Generator) -> float | None:
        """One step on these kept source rows (label 0) against as many remembered target rows
        (label 1, drawn with `gen`); None when there is nothing to compare."""
        if len(source) == 0 or len(self.bank) == 0:
            return None
        pick = torch.randint(len(self.bank), (len(source),), generator=gen)
        x = torch.cat([source.detach().float(), self.bank[pick]])
        y = torch.cat([torch.zeros(len(source)), torch.ones(len(source))])
        loss = F.binary_cross_entropy_with_logits(self.net(x).squeeze(-1), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def state_dict(self) -> dict[str, Any]:
        return {"width": self.width, "blob": pack({"net": self.net.state_dict(),
                                                   "opt": self.opt.state_dict(),
                                                   "bank": self.bank})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        blob = unpack(state["blob"])
        self.net.load_state_dict(blob["net"])
        self.opt.load_state_dict(blob["opt"])
        self.bank = blob["bank"]
