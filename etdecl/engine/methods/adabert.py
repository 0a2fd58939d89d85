"""`adabert`: AdaBERT's differentiable search (Chen et al. 2020) under distillation.

Two sets of parameters, two kinds of rows. The weights (cells, embeddings, heads) learn from
`distill`'s loss on the training rows, through the plugin's optimizer. The architecture weights
(`arch_alpha` of every searched `adabert` encoder) are left out of that optimizer; before
every weight step the trainer runs one batch of the held-out rows (`arch_share`, never in the
weights' batches) through `outer_loss` = `distill`'s loss + `efficiency` × the expected cost
of the ops, and `outer_step` moves them with their own Adam (first-order DARTS: the weights'
response to the architecture is not differentiated). The Gumbel-softmax temperature anneals
from `temperature.start` to `temperature.end` over the training.

At every evaluation and at the end the derived architecture (per node the `top_k` edges whose
best non-zero op weighs most, with that op) is written to `architecture.yaml` in the run
directory, a recipe fragment a later stage (`start: derived`) or recipe retrains from scratch.
"""

from __future__ import annotations

from typing import Any

import torch

from ...components.adabert import AdaBERTCells, anneal
from ...recipe.adabert_space import ARCHITECTURE_FILE, describe, fragment_text
from .base import LossParts, MethodContext
from .distill import Distill


class AdaBERTSearch(Distill):
    def __init__(self, cfg: Any, ctx: MethodContext) -> None:
        super().__init__(cfg, ctx)
        self.searched: dict[str, AdaBERTCells] = {
            n: e for n, e in ctx.graph.encoders.items()
            if isinstance(e, AdaBERTCells) and e.searching}
        if not self.searched:
            raise ValueError("method: adabert needs an adabert encoder without an architecture")
        params = [e.arch_alpha for e in self.searched.values()]
        self.arch_optimizer = torch.optim.Adam(params, lr=cfg.arch_lr, betas=(0.5, 0.999),
                                               weight_decay=cfg.arch_weight_decay)
        self.tau = cfg.temperature.start
        self.last_written: int | None = None

    # ── the two losses ───────────────────────────────────────────────────────────────────

    def expected_cost(self) -> torch.Tensor:
        costs = [e.expected_cost() for e in self.searched.values()]
        return torch.stack(costs).mean()

    def loss(self, outputs: dict[str, torch.Tensor],
             batch: dict[str, torch.Tensor]) -> LossParts:
        """The weights' loss: `distill`'s (the cost term has no gradient for the weights)."""
        parts = super().loss(outputs, batch)
        parts.parts["arch.tau"] = torch.tensor(self.tau)
        return parts

    def outer_loss(self, outputs: dict[str, torch.Tensor],
                   batch: dict[str, torch.Tensor]) -> LossParts:
        parts = super().loss(outputs, batch)
        cost = self.expected_cost()
        total = parts.total + self.cfg.efficiency * cost
        named = {f"arch.{k}": v for k, v in parts.parts.items()}
        named["arch.cost"] = cost.detach()
        return LossParts(total, named)

    # ── the architecture step ────────────────────────────────────────────────────────────

    def held_out_share(self) -> float:
        return float(self.cfg.arch_share)

    def on_step_start(self, step: int, total: int) -> None:
        t = self.cfg.temperature
        self.tau = anneal(t.start, t.end, step / max(1, total - 1))
        for enc in self.searched.values():
            enc.tau = self.tau

    def outer_zero_grad(self) -> None:
        self.arch_optimizer.zero_grad(set_to_none=True)

    def outer_step(self) -> None:
        self.arch_optimizer.step()

    # ── the derived architecture ─────────────────────────────────────────────────────────

    def write_architecture(self, step: int) -> None:
        if not self.ctx.is_main or self.ctx.run_dir is None or self.last_written == step:
            return
        self.last_written = step
        parts = []
        for name, enc in self.searched.items():
            genotype = enc.derive(self.cfg.top_k)
            params, macs = enc.cell_cost(genotype)
            probs = torch.softmax(enc.arch_alpha.detach().float(), -1).max(-1).values
            parts.append(fragment_text(name, genotype, [
                f"AdaBERT architecture of encoder '{name}', derived at step {step} of the "
                f"search run {self.ctx.run_dir}",
                f"{enc.num_cells} cells × {len(genotype)} nodes, hidden {enc.hidden_size}: "
                f"{params:,} parameters in the cells' ops, {macs / 1e6:.3f} M MACs per token; "
                f"expected cost while searching {float(enc.expected_cost().detach()):.4f}, "
                f"temperature {self.tau:.4f}",
                "mean top op weight per edge " + f"{float(probs.mean()):.3f}",
                "retrain it from scratch: a stage with `start: derived`, or paste this under "
                "the encoder"]))
        (self.ctx.run_dir / ARCHITECTURE_FILE).write_text("".join(parts), encoding="utf-8")

    def on_eval(self, step: int, metrics: dict[str, Any]) -> None:
        super().on_eval(step, metrics)
        self.write_architecture(step)

    def on_train_end(self, step: int) -> None:
        self.write_architecture(step)

    # ── state and reporting ──────────────────────────────────────────────────────────────

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        opt = self.arch_optimizer.state_dict()
        state["arch_optimizer"] = {
            "param_groups": opt["param_groups"],
            "state": {str(k): {n: (v.tolist() if torch.is_tensor(v) else v)
                               for n, v in s.items()} for k, s in opt["state"].items()},
        }
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        saved = state.get("arch_optimizer")
        if saved is not None:
            opt_state = {int(k): {n: torch.tensor(v, dtype=torch.float32) for n, v in s.items()}
                         for k, s in saved["state"].items()}
            self.arch_optimizer.load_state_dict({"param_groups": saved["param_groups"],
                                                 "state": opt_state})

    def summary(self) -> list[tuple[str, str]]:
        rows = super().summary()
        for name, enc in self.searched.items():
            genotype = enc.derive(self.cfg.top_k)
            params, macs = enc.cell_cost(genotype)
            rows.append((f"derived architecture ({name})", "; ".join(describe(genotype))))
            rows.append((f"derived cells ({name})", f"{enc.num_cells} × {len(genotype)} nodes, "
                         f"{params:,} parameters, {macs / 1e6:.3f} M MACs per token; "
                         f"written to {ARCHITECTURE_FILE}"))
        return rows
