"""The training loop, run in every process: setup → train → save_checkpoint → cleanup.

Features:
  - AdamW (no decay on biases/LayerNorm), linear warmup then decay, gradient accumulation
    (no gradient sync on non-final micro-batches), gradient-norm clipping.
  - Seeded and deterministic; the global batch is split over ranks so the averaged gradient
    equals the single-process one.
  - Evaluation every N steps and at each epoch end (accuracy, macro-F1, per-domain accuracy),
    best checkpoint kept, resumable checkpoints (model, optimizer, scheduler, RNG, data position).
  - Rich progress bar with ETA and live metrics; metrics.jsonl, TensorBoard and summary.md.

Raises:
  RecipeError: the plan does not fit the world size (located at the recipe key).
  DataError: a bad data row (file and line), unless `data.on_bad_row: skip`.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..compile import compile_recipe
from ..consoles import make_console
from ..data.examples import load_splits
from ..data.tokens import Encoded, TrainBatches, encode_cached, eval_batches
from ..recipe.errors import Problem, RecipeError
from ..recipe.validate import LoadedRecipe
from ..recipe.world import check_world
from ..tables import key_value_table
from .checkpoint import Checkpointer, ResumeError
from .runlog import RunLog, write_summary
from .schedule import LinearWarmupDecay


def _no_decay(name: str) -> bool:
    return name.endswith(".bias") or "LayerNorm" in name or "layer_norm" in name


def classification_metrics(
    preds: np.ndarray, labels: np.ndarray, domains: list[str | None] | None = None
) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score

    out: dict[str, Any] = {
        "accuracy": float(accuracy_score(labels, preds)),
        "macro_f1": float(f1_score(labels, preds, average="macro", zero_division=0)),
    }
    if domains and any(d is not None for d in domains):
        per: dict[str, float] = {}
        arr = np.asarray(domains, dtype=object)
        for d in sorted({x for x in domains if x is not None}):
            sel = arr == d
            per[d] = float(accuracy_score(labels[sel], preds[sel]))
        out["accuracy_by_domain"] = per
    return out


class Trainer:
    def __init__(
        self,
        loaded: LoadedRecipe,
        run_dir: Path,
        resume: bool = False,
        stop_after: int | None = None,
        console: Console | None = None,
    ) -> None:
        self.loaded = loaded
        self.recipe = loaded.recipe
        self.run_dir = run_dir
        self.resume = resume
        self.stop_after = stop_after
        self.rank = dist.get_rank()
        self.world = dist.get_world_size()
        self.console = console or make_console(stderr=True)
        self.is_main = self.rank == 0

    # ── setup ─────────────────────────────────────────────────────────────────────────────

    def _encode(self, compiled) -> tuple[Encoded, Encoded, Any]:
        splits = load_splits(self.loaded, compiled.labels)
        max_len = self.recipe.data.max_length

        def encode() -> tuple[Encoded, Encoded]:
            return tuple(  # type: ignore[return-value]
                encode_cached(
                    getattr(splits, name), compiled.tokenizer, max_len, splits.sources[name]
                )
                for name in ("train", "dev")
            )

        # rank 0 tokenises and fills the cache first; the others then read it
        if self.is_main:
            train, dev = encode()
        if self.world > 1:
            dist.barrier()
        if not self.is_main:
            train, dev = encode()
        return train, dev, splits

    def setup(self) -> None:
        from colossalai.booster import Booster
        from torch.optim.lr_scheduler import LambdaLR

        from .plugins import make_optimizer, make_strategy

        t = self.recipe.train
        check_world(self.loaded, self.world)
        if t.deterministic:
            torch.use_deterministic_algorithms(True)
        self.strategy = make_strategy(self.recipe.parallel, t)
        compiled = compile_recipe(self.loaded)
        self.compiled = compiled
        self.train_enc, self.dev_enc, self.splits = self._encode(compiled)
        self.dev_domains = [e.domain for e in self.splits.dev]
        pad_id = compiled.tokenizer.pad_token_id or 0
        self.pad_id = pad_id
        st = self.strategy
        self.batches = TrainBatches(
            self.train_enc, t.batch_size, st.dp_size, st.dp_rank, t.grad_accum, t.seed, pad_id
        )
        if self.batches.steps_per_epoch == 0:
            raise RecipeError(
                [
                    Problem(
                        f"train.batch_size ({t.batch_size}) exceeds the {len(self.train_enc)} "
                        "training examples",
                        loc=self.loaded.where("train", "batch_size"),
                        path="train.batch_size",
                    )
                ]
            )
        total = self.batches.steps_per_epoch * t.epochs
        self.total_steps = min(total, t.max_steps) if t.max_steps else total
        model = compiled.model
        if self.recipe.parallel.gradient_checkpointing:
            for encoder in model.encoders.values():
                encoder.backbone.gradient_checkpointing_enable(
                    gradient_checkpointing_kwargs={"use_reentrant": False}
                )
        groups = [
            {
                "params": [p for n, p in model.named_parameters() if not _no_decay(n)],
                "weight_decay": t.weight_decay,
            },
            {
                "params": [p for n, p in model.named_parameters() if _no_decay(n)],
                "weight_decay": 0.0,
            },
        ]
        optimizer = make_optimizer(st.kind, groups, t.lr)
        warmup = int(round(t.warmup * self.total_steps))
        scheduler = LambdaLR(optimizer, LinearWarmupDecay(warmup, self.total_steps))
        self.booster = Booster(plugin=st.plugin)
        self.model, self.optimizer, _, _, self.scheduler = self.booster.boost(
            model, optimizer, lr_scheduler=scheduler
        )
        self.ckpt = Checkpointer(self.run_dir, self.booster, self.rank, st.sharded_checkpoints)
        self.step = 0
        self.epoch = 0
        self.step_in_epoch = 0
        self.best: float | None = None
        self.last_eval: dict[str, Any] = {}
        self.best_eval: dict[str, Any] = {}
        if self.resume:
            path = self.ckpt.latest()
            if path is None:
                raise ResumeError(f"--resume: no checkpoint in {self.ckpt.root}")
            state = self.ckpt.load(path, self.model, self.optimizer, self.scheduler)
            if state["fingerprint"] != self.loaded.fingerprint:
                raise ResumeError(
                    f"--resume: the checkpoint was made by recipe {state['fingerprint'][:16]}, "
                    f"but this recipe is {self.loaded.fingerprint[:16]}"
                )
            self.step, self.epoch = state["step"], state["epoch"]
            self.step_in_epoch = state["step_in_epoch"]
            self.best = state.get("best")
            self.best_eval = state.get("best_eval", {})
            self.last_eval = state.get("last_eval", {})
            if self.is_main:
                self.console.print(f"resumed from {path} at step {self.step}")
        self.log = RunLog(self.run_dir, self.is_main, self.step if self.resume else None)

    # ── one optimizer step ────────────────────────────────────────────────────────────────

    @staticmethod
    def criterion(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(logits.float(), batch["labels"])

    def _forward_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self.model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        return self.criterion(logits, batch)

    def train_step(self, micro_batches: list[dict[str, torch.Tensor]]) -> torch.Tensor:
        """One optimizer step; returns this rank's loss (zero where the rank does not report)."""
        self.model.train()
        if self.strategy.pipeline:
            out = self.booster.execute_pipeline(
                iter(micro_batches), self.model, self.criterion, self.optimizer, return_loss=True
            )
            total = out["loss"].detach() if out["loss"] is not None else torch.zeros(())
        else:
            n = len(micro_batches)
            total = torch.zeros(())
            for i, batch in enumerate(micro_batches):
                if i < n - 1:
                    with self.booster.no_sync(self.model, self.optimizer):
                        loss = self._forward_loss(batch) / n
                        self.booster.backward(loss, self.optimizer)
                else:
                    loss = self._forward_loss(batch) / n
                    self.booster.backward(loss, self.optimizer)
                total += loss.detach().float()
        clip = self.recipe.train.clip_grad_norm
        if clip is not None and not self.strategy.plugin_clips:
            self.optimizer.clip_grad_by_norm(clip)
        self.optimizer.step()
        self.optimizer.zero_grad()
        self.scheduler.step()
        return total if self.strategy.reports else torch.zeros(())

    def _mean_over_replicas(self, value: float) -> float:
        """Average a reported value over data-parallel replicas (non-reporting ranks add 0)."""
        if self.world == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor) / self.strategy.dp_size

    # ── evaluation ────────────────────────────────────────────────────────────────────────

    def _eval_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if not self.strategy.pipeline:
            return self.model(
                batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]
            ).float()
        # the 1F1B schedule keeps train-time batch bookkeeping; eval must not disturb it
        sched = self.strategy.plugin.scheduler
        saved = (sched.num_microbatches, sched.last_batch_size)
        try:
            out = self.booster.execute_pipeline(
                iter([batch]), self.model, self.criterion, return_loss=False, return_outputs=True
            )
        finally:
            sched.num_microbatches, sched.last_batch_size = saved
        return out["outputs"].float() if out["outputs"] is not None else None

    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        """Dev metrics; every rank runs the same number of batches (sharded plugins gather
        parameters collectively), and only reporting ranks contribute predictions."""
        self.model.eval()
        st = self.strategy
        idx_all, pred_all, loss_sum = [], [], 0.0
        for index, batch in eval_batches(
            self.dev_enc, self.recipe.train.eval_batch_size, st.dp_size, st.dp_rank, self.pad_id
        ):
            logits = self._eval_logits(batch)
            if logits is None or not st.reports or len(index) == 0:
                continue
            logits = logits[: len(index)]
            labels = batch["labels"][: len(index)]
            loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
            idx_all.append(index)
            pred_all.append(logits.argmax(-1).numpy())
        mine = (
            np.concatenate(idx_all) if idx_all else np.zeros(0, dtype=np.int64),
            np.concatenate(pred_all) if pred_all else np.zeros(0, dtype=np.int64),
            loss_sum,
        )
        if self.world > 1:
            gathered: list[Any] = [None] * self.world
            dist.all_gather_object(gathered, mine)
        else:
            gathered = [mine]
        index = np.concatenate([g[0] for g in gathered])
        preds = np.full(len(self.dev_enc), -1, dtype=np.int64)
        preds[index] = np.concatenate([g[1] for g in gathered])
        assert (preds >= 0).all(), "some dev examples were not evaluated"
        metrics = classification_metrics(preds, self.dev_enc.labels, self.dev_domains)
        metrics["loss"] = sum(g[2] for g in gathered) / len(self.dev_enc)
        return metrics

    # ── checkpoints ───────────────────────────────────────────────────────────────────────

    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "best": self.best,
            "best_eval": self.best_eval,
            "last_eval": self.last_eval,
            "fingerprint": self.loaded.fingerprint,
            "world_size": self.world,
            "total_steps": self.total_steps,
        }

    def save_checkpoint(self) -> None:
        self.ckpt.save(self.step, self.model, self.optimizer, self.scheduler, self._state())

    def _after_eval(self, metrics: dict[str, Any]) -> None:
        self.last_eval = metrics
        self.log.log(self.step, "dev", metrics)
        value = metrics[self.recipe.train.metric]
        if self.best is None or value > self.best:
            self.best = value
            self.best_eval = dict(metrics, step=self.step)
            self.ckpt.save_best(self.model, self._state())

    # ── the loop ──────────────────────────────────────────────────────────────────────────

    def train(self) -> str:
        """Run to the end (or to --stop-after). Returns 'done' or 'stopped'."""
        t = self.recipe.train
        eval_every = t.eval_every
        ckpt_every = t.checkpoint_every or eval_every
        progress = Progress(
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}", markup=False),
            console=self.console,
            disable=not self.is_main,
            transient=False,
        )
        window_loss, window_n = 0.0, 0
        started = time.perf_counter()
        start_step = self.step
        outcome = "done"
        with progress:
            task = progress.add_task(
                self.recipe.name, total=self.total_steps, completed=self.step, info=""
            )
            while self.step < self.total_steps and self.epoch < t.epochs:
                for micro in self.batches.epoch(self.epoch, self.step_in_epoch):
                    loss = self.train_step(micro)
                    self.step += 1
                    self.step_in_epoch += 1
                    window_loss += float(loss)
                    window_n += 1
                    if self.step % t.log_every == 0 or self.step == self.total_steps:
                        mean = self._mean_over_replicas(window_loss / window_n)
                        self.log.log(
                            self.step,
                            "train",
                            {
                                "loss": mean,
                                "lr": self.scheduler.get_last_lr()[0],
                                "epoch": self.epoch,
                            },
                        )
                        window_loss, window_n = 0.0, 0
                        progress.update(task, info=self._info(mean))
                    progress.update(task, completed=self.step)
                    end_of_epoch = self.step_in_epoch >= self.batches.steps_per_epoch
                    if end_of_epoch:
                        self.epoch += 1
                        self.step_in_epoch = 0
                    done = self.step >= self.total_steps
                    if (eval_every and self.step % eval_every == 0) or end_of_epoch or done:
                        self._after_eval(self.evaluate())
                        progress.update(task, info=self._info(None))
                    stop = self.stop_after is not None and self.step >= self.stop_after
                    if (ckpt_every and self.step % ckpt_every == 0) or end_of_epoch or done or stop:
                        self.save_checkpoint()
                    if stop and not done:
                        outcome = "stopped"
                        break
                    if done or end_of_epoch:
                        break
                if outcome == "stopped":
                    break
        self.elapsed = time.perf_counter() - started
        self.steps_run = self.step - start_step
        return outcome

    def _info(self, loss: float | None) -> str:
        parts = []
        if loss is not None:
            self._last_loss = loss
        if getattr(self, "_last_loss", None) is not None:
            parts.append(f"loss {self._last_loss:.4f}")
        if self.last_eval:
            m = self.recipe.train.metric
            parts.append(f"dev {m} {self.last_eval[m]:.4f}")
        return "  ".join(parts)

    # ── wrap-up ───────────────────────────────────────────────────────────────────────────

    def cleanup(self, outcome: str) -> None:
        self.log.close()
        if not self.is_main:
            return
        m = self.recipe.train.metric
        rows = [
            ("recipe", self.recipe.name),
            ("fingerprint", self.loaded.fingerprint),
            ("outcome", outcome),
            ("steps", f"{self.step} / {self.total_steps}"),
            ("processes", str(self.world)),
            ("train / dev examples", f"{len(self.train_enc)} / {len(self.dev_enc)}"),
            ("wall time (this launch)", f"{self.elapsed:.1f} s"),
            ("time per step", f"{self.elapsed / max(1, self.steps_run):.3f} s"),
        ]
        if self.last_eval:
            rows.append((f"last dev {m}", f"{self.last_eval[m]:.4f}"))
            rows.append(("last dev macro_f1", f"{self.last_eval['macro_f1']:.4f}"))
            for d, v in self.last_eval.get("accuracy_by_domain", {}).items():
                rows.append((f"last dev accuracy [{d}]", f"{v:.4f}"))
        if self.best_eval:
            rows.append(
                (f"best dev {m}", f"{self.best_eval[m]:.4f} (step {self.best_eval['step']})")
            )
        skipped: Counter = self.splits.skipped
        for reason, count in skipped.items():
            rows.append((f"skipped rows: {reason}", str(count)))
        rows.append(("run directory", str(self.run_dir)))
        write_summary(self.run_dir, rows, f"etdecl run: {self.recipe.name}")
        title = f"etdecl run: {self.recipe.name}"
        self.console.print(key_value_table(self.console, title, rows), soft_wrap=False)
        final = {
            "outcome": outcome,
            "step": self.step,
            "last_eval": self.last_eval,
            "best_eval": self.best_eval,
            "fingerprint": self.loaded.fingerprint,
            "skipped_rows": dict(skipped),
        }
        (self.run_dir / "result.json").write_text(json.dumps(final, indent=2))
        if outcome == "stopped":
            self.console.print(
                f"stopped after step {self.step} as asked; continue with "
                "`etdecl train ... --resume`"
            )
        if math.isnan(self.last_eval.get("loss", 0.0)):
            self.console.print("dev loss is NaN", style="red")
