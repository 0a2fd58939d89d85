"""`reinforced` (RTL, Qu et al. 2019) and `minimax` (MGTL, Wang et al. 2019) selectors.

Per training step whose batch holds source rows: the policy reads each source row's state
(`base.rl_state`: the model's features of it, its prediction, its loss), keeps it with its
probability (a seeded draw), and the rows dropped get weight 0 in the task loss. An episode
runs from one evaluation to the next; at its end the reward is `reward_scale` × the change of
the selection metric (the target dev metric) since the episode began, the advantage is the
reward less a moving-average baseline of past rewards, and one REINFORCE step raises the
log-probability of every action of the episode in proportion to it.

`minimax` adds MGTL's discriminator: each step it is trained to tell the kept source rows
(0) from recently seen target rows (1), and before that step its logit on each judged row,
centred over the batch, is the immediate reward of keeping it (dropping earns 0): a REINFORCE
step right away makes the policy keep rows the discriminator finds target-like and drop the
others, while the discriminator keeps learning to tell them apart.

Logged per step (metrics.jsonl, TensorBoard): `select.<name>.keep` (share of source rows kept),
`select.<name>.prob`; at episode ends `select.<name>.reward` and `.advantage`; minimax also
`select.<name>.disc_loss`. The per-episode record of every judged row is the selection log
(`records.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .base import Scope, Selector, feature_key, rl_state, state_width, step_generator
from .learners import Discriminator, Policy


class ReinforcedSelector(Selector):
    needs_initial_eval = True

    def __init__(self, cfg: Any, scope: Scope, run_dir: Path, is_main: bool, seed: int,
                 feature_width: int, n_classes: int | None, rank: int = 0) -> None:
        super().__init__(cfg, scope, run_dir, is_main, seed)
        p = cfg.policy
        self.policy = Policy(state_width(feature_width, n_classes), p.hidden, p.lr, seed,
                             p.initial_keep, p.entropy)
        self.rank = rank
        self.baseline: float | None = None
        self.previous: float | None = None
        self.episode = 0
        self.rewards: list[float] = []
        self._clear()
        self.stats: dict[str, float] = {}

    def _clear(self) -> None:
        self.states: list[torch.Tensor] = []
        self.actions: list[torch.Tensor] = []
        self.rows: dict[str, list] = {"index": [], "domain": [], "prob": [], "kept": []}

    # ── each step ──────────────────────────────────────────────────────────────────────────

    def weights(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
                step: int) -> torch.Tensor | None:
        self.stats = {}
        self.observe(outputs, batch)
        rows = self.scope.selectable(batch)
        if not bool(rows.any()):
            return None
        state = rl_state(outputs, batch, self.scope, rows)
        if state is None:
            return None
        gen = step_generator(self.seed, step, 1_000 * self.rank + 17)
        probs, actions = self.policy.act(state, gen)
        self.states.append(state)
        self.actions.append(actions)
        self.rows["index"] += batch["index"][rows].tolist()
        self.rows["domain"] += self.scope.names(batch["domain"][rows])
        self.rows["prob"] += [round(float(v), 4) for v in probs]
        self.rows["kept"] += [int(a) for a in actions]
        self.immediate(outputs, rows, state, probs, actions, step)
        weights = torch.ones(len(rows))
        weights[rows] = actions
        name = self.scope.name
        self.stats[f"select.{name}.keep"] = float(actions.mean())
        self.stats[f"select.{name}.prob"] = float(probs.mean())
        return weights

    def observe(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> None:
        """See the batch's target rows (minimax remembers them)."""

    def immediate(self, outputs: dict[str, torch.Tensor], rows: torch.Tensor,
                  state: torch.Tensor, probs: torch.Tensor, actions: torch.Tensor,
                  step: int) -> None:
        """A per-step update (minimax's discriminator reward)."""

    # ── each episode ───────────────────────────────────────────────────────────────────────

    def on_eval(self, step: int, value: float) -> None:
        """End the episode: reward = scale × change of the metric; one REINFORCE step (after
        the first reward, which sets the baseline)."""
        p = self.cfg.policy
        reward = advantage = None
        if self.previous is not None and self.states and value == value:  # not NaN
            reward = p.reward_scale * (value - self.previous)
            if self.baseline is None:
                # the first reward (from an untrained head at step 0) is large whatever was
                # kept: it only sets the baseline, so it does not reinforce chance
                advantage = 0.0
            else:
                advantage = reward - self.baseline
                states, actions = torch.cat(self.states), torch.cat(self.actions)
                self.policy.reinforce(states, actions, torch.full((len(actions),), advantage))
            self.baseline = reward if self.baseline is None else (
                p.baseline_decay * self.baseline + (1 - p.baseline_decay) * reward)
            self.rewards.append(reward)
        if self.rows["index"]:
            self.log.write({"selector": self.scope.name, "type": self.cfg.type,
                            "episode": self.episode, "step": step, "metric": value,
                            "reward": reward, "baseline": self.baseline, **self.rows})
            self.episode += 1
            self.stats[f"select.{self.scope.name}.reward"] = reward if reward is not None \
                else float("nan")
            if advantage is not None:
                self.stats[f"select.{self.scope.name}.advantage"] = advantage
        self.previous = value if value == value else self.previous
        self._clear()

    # ── state ──────────────────────────────────────────────────────────────────────────────

    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "baseline": self.baseline,
                "previous": self.previous, "episode": self.episode, "rewards": self.rewards,
                "pending": _pack_pending(self.states, self.actions, self.rows)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.policy.load_state_dict(state["policy"])
        self.baseline = state.get("baseline")
        self.previous = state.get("previous")
        self.episode = int(state.get("episode", 0))
        self.rewards = list(state.get("rewards", []))
        self.states, self.actions, self.rows = _unpack_pending(state.get("pending"))

    def summary(self) -> list[tuple[str, str]]:
        name = self.scope.name
        rows = [(f"selector {name}", f"{self.cfg.type}: {self.episode} episodes; log "
                 f"{self.log.path.parent.name}/{self.log.path.name}")]
        if self.rewards:
            rows.append((f"selector {name} rewards",
                         ", ".join(f"{r:+.3f}" for r in self.rewards[-6:])))
        return rows


class MinimaxSelector(ReinforcedSelector):
    def __init__(self, cfg: Any, scope: Scope, run_dir: Path, is_main: bool, seed: int,
                 feature_width: int, n_classes: int | None, rank: int = 0) -> None:
        super().__init__(cfg, scope, run_dir, is_main, seed, feature_width, n_classes, rank)
        d = cfg.discriminator
        self.disc = Discriminator(feature_width, d.hidden, d.lr, seed, d.memory)

    def observe(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> None:
        feats = outputs.get(feature_key(self.scope.node))
        target = self.scope.target_rows(batch)
        if feats is not None and bool(target.any()):
            self.disc.remember(torch.nn.functional.normalize(feats[target].float(), dim=-1))

    def immediate(self, outputs: dict[str, torch.Tensor], rows: torch.Tensor,
                  state: torch.Tensor, probs: torch.Tensor, actions: torch.Tensor,
                  step: int) -> None:
        """Keeping a row earns the discriminator's (batch-centred) logit that it is from the
        target, dropping it earns 0; REINFORCE with the expected reward p·u as baseline, so
        each row's advantage is (a − p)·u: keeping target-like rows and dropping source-like
        ones both become likelier. Then the discriminator learns from the kept rows."""
        feats = torch.nn.functional.normalize(
            outputs[feature_key(self.scope.node)][rows].float(), dim=-1)
        kept = actions > 0
        if len(self.disc.bank):
            reward = self.disc.reward(feats)
            centred = reward - reward.mean()
            advantage = (actions - probs) * centred
            self.policy.reinforce(state, actions, self.cfg.discriminator.weight * advantage)
            if bool(kept.any()):
                self.stats[f"select.{self.scope.name}.immediate"] = float(reward[kept].mean())
        loss = self.disc.train_step(feats[kept], step_generator(self.seed, step, 99 + self.rank))
        if loss is not None:
            self.stats[f"select.{self.scope.name}.disc_loss"] = loss

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "discriminator": self.disc.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if state and "discriminator" in state:
            self.disc.load_state_dict(state["discriminator"])


def _pack_pending(states: list[torch.Tensor], actions: list[torch.Tensor],
                  rows: dict[str, list]) -> dict[str, Any] | None:
    """An unfinished episode (a checkpoint between evaluations), so a resume ends it alike."""
    if not states:
        return None
    from .learners import pack

    return {"blob": pack({"states": torch.cat(states), "actions": torch.cat(actions)}),
            "rows": rows}


def _unpack_pending(pending: dict[str, Any] | None
                    ) -> tuple[list[torch.Tensor], list[torch.Tensor], dict[str, list]]:
    if not pending:
        return [], [], {"index": [], "domain": [], "prob": [], "kept": []}
    from .learners import unpack

    blob = unpack(pending["blob"])
    return [blob["states"]], [blob["actions"]], pending["rows"]
