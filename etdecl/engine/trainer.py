"""The training loop, run in every process: setup → train → save_checkpoint → cleanup.

The trainer owns the loop: batches (several datasets mixed per step), the optimizer (AdamW, no
decay on biases/LayerNorm, layer-wise lr decay, frozen parameters left out), the plugin,
gradient accumulation and clipping, evaluation every N steps and at each epoch end, the best
and resumable checkpoints (model, optimizer, scheduler, RNG, data position, method state), and
the Rich progress bar, metrics.jsonl, TensorBoard and summary.md. The loss comes from the
training method (`engine/methods`); evaluation from `engine/evaluate.py`. With
`train.init_from` the graph starts from another run's weights (`engine/init_from.py`, loaded
before boosting) and is evaluated once at step 0, a candidate for the best checkpoint.

Raises:
  RecipeError: the plan does not fit the world size, or `train.init_from` cannot be used
    (located at the recipe key).
  DataError: a bad data row (file and line), unless `data.on_bad_row: skip`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from rich.console import Console

from ..compile import compile_recipe
from ..consoles import make_console
from ..data.held_out import HeldOut, hold_out
from ..data.tokens import TrainBatches, eval_batches
from ..recipe.datasets import metric_key
from ..recipe.errors import Problem, RecipeError
from ..recipe.loaded import LoadedRecipe
from ..recipe.schema_teachers import DISTILLING
from ..recipe.world import check_world
from ..tables import key_value_table
from .checkpoint import Checkpointer, ResumeError
from .evaluate import evaluate_all
from .init_from import InitReport, init_from_source
from .methods import METHODS, MethodContext
from .optim import param_groups
from .progress import training_progress
from .run_data import prepare
from .runlog import RunLog, write_summary
from .schedule import LinearWarmupDecay
from .selectors import ModelFeatures, build_selection
from .speed import (
    CompileOutcome,
    compile_graph,
    precision_context,
    report_compile,
    to_fp32,
    why_not_compile,
)
from .student_files import save_student_files
from .target_report import target_first, target_report
from .unfreeze import GradualUnfreeze


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
        self.metric = metric_key(self.recipe)

    # ── setup ─────────────────────────────────────────────────────────────────────────────

    def setup(self) -> None:
        from colossalai.booster import Booster
        from torch.optim.lr_scheduler import LambdaLR

        from .plugins import make_optimizer, make_strategy

        t = self.recipe.train
        check_world(self.loaded, self.world)
        if t.deterministic:
            torch.use_deterministic_algorithms(True)
            # deterministic kernels, without also NaN-filling every new tensor (a debugging
            # aid that took a fifth of MiniLM's step time on CPU; no kernel reads it)
            torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
        compiled = compile_recipe(self.loaded)
        self.compiled = compiled
        if self.is_main:  # a student cut from a teacher opens later without the teacher
            save_student_files(compiled, self.recipe, self.run_dir)
        barrier = dist.barrier if self.world > 1 else (lambda: None)
        self.data = prepare(self.loaded, compiled, self.is_main, barrier)
        # DDP must be told when some dataset's batches leave a head unused (a head whose
        # encoder or view those batches lack); a flag it would otherwise pay for every step
        every = set(compiled.tasks)
        idle = any(set(compiled.model.runnable(d.batch([0]))) != every for d in self.data.train)
        self.strategy = st = make_strategy(self.recipe.parallel, t, find_unused=idle)
        model = compiled.model
        ctx = MethodContext(
            compiled.tasks,
            {i: compiled.dataset_heads[d.name] for i, d in enumerate(self.data.train)},
            {h: c.weight for h, c in self.recipe.heads.items()},
            self.data.sizes(), self.recipe,
            train_data=self.data.train, graph=model, loaded=self.loaded,
            run_dir=self.run_dir, is_main=self.is_main,
        )
        self.method = METHODS[self.recipe.method.type](self.recipe.method, ctx)
        for name, module in self.method.extra_modules().items():
            model.objectives[name] = module
        self.init_report: InitReport | None = None
        if t.init_from is not None and not self.resume:  # --resume: the checkpoint wins
            self.init_report = init_from_source(self.loaded, model)
            if self.is_main:
                self.console.print(f"init_from {self.init_report.source}: "
                                   f"{self.init_report.line()}")
        self._precision = precision_context(self.recipe.parallel)
        # instance selectors: after init_from (bayes scores the model as training starts it)
        for name, sel in self.recipe.selectors.items():
            if sel.type != "bayes" and self.world > 1:
                raise RecipeError([Problem(
                    f"selector '{name}' ({sel.type}) runs in one process for now: its policy "
                    f"steps would have to meet on every process, which {self.world} processes "
                    "judging different rows cannot promise", loc=self.loaded.where(
                        "selectors", name, "type"), path=f"selectors.{name}.type",
                    hint="train without --nproc, or use type: bayes")])
        self.selection = build_selection(self.recipe, self.data.train, compiled.dataset_heads,
                                         model, compiled.tasks, self.run_dir, self.is_main,
                                         self.rank)
        ctx.selection = self.selection
        # `train.datasets` (a stage's data): only these datasets' rows are batched
        batched = [d for d in self.data.train if t.datasets is None or d.name in t.datasets]
        self.batches = TrainBatches(
            batched, t.batch_size, st.dp_size, st.dp_rank, t.grad_accum, t.seed,
            t.epochs, t.mixing, t.mixing_temperature, t.batching, t.bucket_window, t.sampling,
            rows=self._selected_rows(batched, barrier),
        )
        self.held: HeldOut | None = None
        share = self.method.held_out_share()
        if share:  # a bilevel method (AdaBERT): its outer steps read rows the weights never do
            kept, held = hold_out(self.batches, share, t.seed)
            self.batches = dataclasses.replace(self.batches, rows=kept)
        if self.batches.steps_per_epoch == 0:
            n = max(len(d.feats) for d in batched)
            raise RecipeError([Problem(
                f"train.batch_size ({t.batch_size}) exceeds the {n} training examples",
                loc=self.loaded.where("train", "batch_size"), path="train.batch_size")])
        total = self.batches.steps_per_epoch * t.epochs
        self.total_steps = min(total, t.max_steps) if t.max_steps else total
        if share:
            try:
                self.held = HeldOut(self.batches, held, self.total_steps)
            except ValueError as err:
                raise RecipeError([Problem(str(err), loc=self.loaded.where(
                    "method", "arch_share"), path="method.arch_share",
                    hint="raise arch_share or lower train.batch_size")]) from err
        if self.recipe.parallel.gradient_checkpointing:
            for encoder in model.hf_encoders().values():
                encoder.backbone.gradient_checkpointing_enable(
                    gradient_checkpointing_kwargs={"use_reentrant": False})
        self.notices: list[str] = []
        self.compile_outcome: CompileOutcome | None = None
        if t.compile:
            self.compile_outcome = self._compile(model)
        optimizer = make_optimizer(st.kind, param_groups(model, self.recipe), t.lr)
        warmup = int(round(t.warmup * self.total_steps))
        scheduler = LambdaLR(optimizer, LinearWarmupDecay(warmup, self.total_steps))
        self.booster = Booster(plugin=st.plugin)
        self.model, self.optimizer, _, _, self.scheduler = self.booster.boost(
            model, optimizer, lr_scheduler=scheduler
        )
        self.unfreeze = (GradualUnfreeze(model.hf_encoders(), self.total_steps)
                         if t.unfreeze == "gradual" else None)
        self.ckpt = Checkpointer(self.run_dir, self.booster, self.rank, st.sharded_checkpoints)
        self.step = 0
        self.epoch = 0
        self.step_in_epoch = 0
        self.best: float | None = None
        self.last_eval: dict[str, Any] = {}
        self.best_eval: dict[str, Any] = {}
        if self.resume:
            self._resume()
        elif self.selection is not None:
            for sel in self.selection.selectors:
                sel.on_fresh_start()
        self.log = RunLog(self.run_dir, self.is_main, self.step if self.resume else None)
        report_compile(self.compile_outcome, self.console, self.log, self.step, self.is_main)

    def _selected_rows(self, batched: list[Any], barrier: Any) -> dict[int, Any]:
        """Feature rows each batched dataset trains on, as chosen before training by a static
        selector (`bayes`); rank 0 chooses and logs, the others read its log."""
        if self.selection is None:
            return {}
        rows: dict[int, Any] = {}
        for sel in self.selection.selectors:
            if sel.cfg.type != "bayes":
                continue
            tokenizer = self.compiled.tokenizers[
                self.compiled.tokenizer_for_head(sel.scope.head)]
            source = ModelFeatures(self.compiled.model, self.data.train, self.data.dev,
                                   tokenizer, sel.scope.node, sel.scope.head, self._precision,
                                   self.console if self.is_main else None)
            if not self.is_main:
                barrier()
            chosen = sel.restrict(source, resume=self.resume or not self.is_main)
            if self.is_main:
                barrier()
            pos = next((i for i, d in enumerate(batched) if d.index == sel.scope.source_id),
                       None)
            if chosen is not None and pos is not None:
                rows[pos] = chosen
        return rows

    def _compile(self, model: torch.nn.Module) -> CompileOutcome:
        """torch.compile the graph (train.compile), or say why it stays eager."""
        reason = why_not_compile(self.recipe.parallel)
        if reason is None and self.compiled.model.towers:
            reason = ("towers route each row by its domain (shapes that depend on the data) "
                      "and read the training progress, which torch.compile would retrace")
        if reason is None and self.selection is not None:
            reason = ("instance selectors read each row's features inside the forward and "
                      "drop rows by the data, which torch.compile would retrace")
        if reason is None and self.recipe.method.type in DISTILLING:
            reason = ("distillation runs its teachers (or reads their cached outputs) inside "
                      "the forward, which torch.compile would not trace")
        if reason is not None:
            return CompileOutcome(False, reason=reason)
        first = next(iter(self.batches.epoch(0)))[0]
        st = self.strategy
        dev = next((b for d in self.data.dev for _, b in eval_batches(
            d, self.recipe.train.eval_batch_size, st.dp_size, st.dp_rank)), None)
        return compile_graph(model, first, dev, self._precision,
                             lambda out, batch: self.method.loss(out, batch).total)

    def _resume(self) -> None:
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
        self.method.load_state_dict(state.get("method", {}))
        if self.selection is not None:
            self.selection.load_state_dict(state.get("selection", {}))
            for sel in self.selection.selectors:
                sel.on_resume(self.step)
        if self.is_main:
            self.console.print(f"resumed from {path} at step {self.step}")

    # ── one optimizer step ────────────────────────────────────────────────────────────────

    def criterion(self, outputs: dict[str, torch.Tensor],
                  batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.selection is not None:
            self.selection.set_step(self.step)
        parts = self.method.loss(outputs, batch)
        self._parts = parts.parts
        return parts.total

    def train_step(self, micro_batches: list[dict[str, torch.Tensor]]) -> torch.Tensor:
        """One optimizer step; returns this rank's loss (zero where the rank does not report)."""
        self.model.train()
        self.compiled.model.progress = self.step / max(1, self.total_steps)  # DANN schedules
        self._step_parts: dict[str, float] = {}
        self.method.on_step_start(self.step, self.total_steps)
        if self.held is not None:
            self._outer_step()
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
                        loss = self.criterion(self._forward(batch), batch) / n
                        self.booster.backward(loss, self.optimizer)
                else:
                    loss = self.criterion(self._forward(batch), batch) / n
                    self.booster.backward(loss, self.optimizer)
                total += loss.detach().float()
                for k, v in self._parts.items():
                    self._step_parts[k] = self._step_parts.get(k, 0.0) + float(v) / n
        if self.unfreeze is not None:  # still-frozen layers: no gradient, so no update
            self.unfreeze.apply(self.step)
        clip = self.recipe.train.clip_grad_norm
        if clip is not None and not self.strategy.plugin_clips:
            self.optimizer.clip_grad_by_norm(clip)
        self.optimizer.step()
        self.optimizer.zero_grad()
        self.scheduler.step()
        self.method.on_step_end(self.step + 1)
        return total if self.strategy.reports else torch.zeros(())

    def _outer_step(self) -> None:
        """A bilevel method's outer step on this step's held-out batch (before the weight
        step); the weights' gradients it leaves are cleared. DDP averages the outer
        parameters' gradients over the processes in the same backward."""
        assert self.held is not None
        micro = self.held.micro_batches(self.step)
        self.method.outer_zero_grad()
        for batch in micro:
            parts = self.method.outer_loss(self._forward(batch), batch)
            (parts.total / len(micro)).backward()
            for k, v in parts.parts.items():
                self._step_parts[k] = self._step_parts.get(k, 0.0) + float(v) / len(micro)
        self.method.outer_step()
        self.optimizer.zero_grad()

    def _forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The model's forward in the plan's precision context (bf16 autocast on ddp)."""
        with self._precision():
            out = to_fp32(self.model(**batch))
        assert out is not None
        return out

    def _mean_over_replicas(self, value: float) -> float:
        """Average a reported value over data-parallel replicas (non-reporting ranks add 0)."""
        if self.world == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor) / self.strategy.dp_size

    # ── evaluation ────────────────────────────────────────────────────────────────────────

    def _eval_forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        if not self.strategy.pipeline:
            return self._forward(batch)
        # the 1F1B schedule keeps train-time batch bookkeeping; eval must not disturb it
        sched = self.strategy.plugin.scheduler
        saved = (sched.num_microbatches, sched.last_batch_size)
        try:
            out = self.booster.execute_pipeline(
                iter([batch]), self.model, self.criterion, return_loss=False, return_outputs=True
            )
        finally:
            sched.num_microbatches, sched.last_batch_size = saved
        return out["outputs"]

    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        """Dev metrics of every head (`<head>.<metric>`), and `loss`."""
        self.model.eval()
        st = self.strategy
        return evaluate_all(self._eval_forward, self.data.dev, self.recipe.train.eval_batch_size,
                            st.dp_size, st.dp_rank, st.reports)

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
            "method": self.method.state_dict(),
            "selection": self.selection.state_dict() if self.selection is not None else {},
        }

    def save_checkpoint(self) -> None:
        self.ckpt.save(self.step, self.model, self.optimizer, self.scheduler, self._state())

    def _after_eval(self, metrics: dict[str, Any]) -> None:
        self.last_eval = metrics
        self.log.log(self.step, "dev", metrics)
        self.method.on_eval(self.step, metrics)
        value = metrics.get(self.metric, float("nan"))
        if self.selection is not None:  # an episode ends: its reward is the metric's change
            self.selection.on_eval(self.step, metrics, self.metric)
            episode = self.selection.episode_stats()
            if episode:
                self.log.log(self.step, "train", episode)
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
        progress = training_progress(self.console, not self.is_main)
        window_loss, window_n = 0.0, 0
        window_parts: dict[str, float] = {}
        window_counts: dict[str, int] = {}
        started = time.perf_counter()
        start_step = self.step
        self.step_seconds = self.side_seconds = 0.0
        outcome = "done"
        wants_start = self.selection is not None and self.selection.needs_initial_eval
        if (self.init_report is not None or wants_start) and self.step == 0:
            # where the source's weights stand on this run's dev data; a candidate for best too,
            # so fine-tuning never reports worse than its starting point
            tick = time.perf_counter()
            self._after_eval(self.evaluate())
            self.side_seconds += time.perf_counter() - tick
        with progress:
            task = progress.add_task(
                self.recipe.name, total=self.total_steps, completed=self.step, info=""
            )
            while self.step < self.total_steps and self.epoch < t.epochs:
                for micro in self.batches.epoch(self.epoch, self.step_in_epoch):
                    tick = time.perf_counter()
                    loss = self.train_step(micro)
                    self.step_seconds += time.perf_counter() - tick
                    self.step += 1
                    self.step_in_epoch += 1
                    window_loss += float(loss)
                    window_n += 1
                    for k, v in self._step_parts.items():
                        window_parts[k] = window_parts.get(k, 0.0) + v
                        window_counts[k] = window_counts.get(k, 0) + 1
                    if self.step % t.log_every == 0 or self.step == self.total_steps:
                        mean = self._mean_over_replicas(window_loss / window_n)
                        # a part is averaged over the steps that had it (a head's loss
                        # only on its dataset's steps, a selector's keep rate on source steps)
                        parts = {k: v / window_counts[k] for k, v in window_parts.items()}
                        self.log.log(self.step, "train", {
                            "loss": mean, "lr": self.scheduler.get_last_lr()[0],
                            "epoch": self.epoch, **parts, **self._unfrozen()})
                        window_loss, window_n, window_parts, window_counts = 0.0, 0, {}, {}
                        progress.update(task, info=self._info(mean))
                    progress.update(task, completed=self.step)
                    end_of_epoch = self.step_in_epoch >= self.batches.steps_per_epoch
                    if end_of_epoch:
                        self.epoch += 1
                        self.step_in_epoch = 0
                        self.method.on_epoch_end(self.epoch)
                    done = self.step >= self.total_steps
                    if (eval_every and self.step % eval_every == 0) or end_of_epoch or done:
                        tick = time.perf_counter()
                        self._after_eval(self.evaluate())
                        self.side_seconds += time.perf_counter() - tick
                        progress.update(task, info=self._info(None))
                    stop = self.stop_after is not None and self.step >= self.stop_after
                    if (ckpt_every and self.step % ckpt_every == 0) or end_of_epoch or done or stop:
                        tick = time.perf_counter()
                        self.save_checkpoint()
                        self.side_seconds += time.perf_counter() - tick
                    if stop and not done:
                        outcome = "stopped"
                        break
                    if done or end_of_epoch:
                        break
                if outcome == "stopped":
                    break
        self.method.on_train_end(self.step)
        self.elapsed = time.perf_counter() - started
        self.steps_run = self.step - start_step
        return outcome

    def _unfrozen(self) -> dict[str, int]:
        """`unfrozen_layers` of the step just taken (gradual unfreezing)."""
        return {} if self.unfreeze is None else self.unfreeze.log_values(self.step - 1)

    def _info(self, loss: float | None) -> str:
        parts = []
        if loss is not None:
            self._last_loss = loss
        if getattr(self, "_last_loss", None) is not None:
            parts.append(f"loss {self._last_loss:.4f}")
        if self.last_eval and self.metric in self.last_eval:
            parts.append(f"dev {self.metric} {self.last_eval[self.metric]:.4f}")
        return "  ".join(parts)

    # ── wrap-up ───────────────────────────────────────────────────────────────────────────

    def summary_rows(self, outcome: str) -> list[tuple[str, str]]:
        m = self.metric
        n_train = sum(len(d.examples) for d in self.data.train)
        n_dev = sum(len(d.examples) for d in self.data.dev)
        rows = [
            ("recipe", self.recipe.name),
            ("fingerprint", self.loaded.fingerprint),
            ("outcome", outcome),
            ("steps", f"{self.step} / {self.total_steps}"),
            ("processes", str(self.world)),
            ("train / dev examples", f"{n_train} / {n_dev}"),
            ("wall time (this launch)", f"{self.elapsed:.1f} s"),
            ("time per step", f"{self.elapsed / max(1, self.steps_run):.3f} s"),
            ("train-step time", f"{self.step_seconds / max(1, self.steps_run):.3f} s"),
        ]
        done = self.compile_outcome
        if done is not None:
            rows.append(("compile", f"{done.seconds:.1f} s (not in step time)" if done.compiled
                         else f"eager: {done.reason}"))
        target = self.recipe.data.target_domain
        if target is not None:
            rows.append(("target domain", target))
        for key, value in target_first(self.last_eval, target).items():
            if isinstance(value, float) and key != "loss" and not key.endswith(".loss"):
                rows.append((f"last dev {key}", f"{value:.4f}"))
        if self.best_eval and m in self.best_eval:
            best = f"{self.best_eval[m]:.4f} (step {self.best_eval['step']})"
            rows.append((f"best dev {m}", best))
        if self.init_report is not None:
            rows.append(("init_from", f"{self.init_report.source}: {self.init_report.line()}"))
        for reason, count in self.data.skipped.items():
            rows.append((f"skipped rows: {reason}", str(count)))
        if self.held is not None:
            rows.append(("held out for the outer steps", f"{len(self.held)} training rows"))
        rows.extend(self.method.summary())
        if self.selection is not None:
            rows.extend(self.selection.summary())
        rows.append(("run directory", str(self.run_dir)))
        return rows

    def timing(self) -> dict[str, Any]:
        """This launch's seconds: the loop's wall, the part spent evaluating and saving
        checkpoints, the train steps alone (forward, backward, optimizer), and compile (the
        probe, before the loop; 0 when eager), with the examples the steps trained on."""
        done = self.compile_outcome
        return {
            "wall_s": round(self.elapsed, 3),
            "eval_checkpoint_s": round(self.side_seconds, 3),
            "train_step_s": round(self.step_seconds, 3),
            "steps": self.steps_run,
            "examples": self.steps_run * self.recipe.train.batch_size,
            "compile_s": round(done.seconds, 3) if done is not None else 0.0,
            "compiled": bool(done and done.compiled),
            "precision": self.recipe.parallel.precision,
        }

    def cleanup(self, outcome: str) -> None:
        self.log.close()
        if not self.is_main:
            return
        rows = self.summary_rows(outcome)
        title = f"etdecl run: {self.recipe.name}"
        write_summary(self.run_dir, rows, title)
        self.console.print(key_value_table(self.console, title, rows), soft_wrap=False)
        final = {
            "outcome": outcome,
            "step": self.step,
            "metric": self.metric,
            **target_report(self.recipe.data.target_domain, self.best_eval, self.last_eval),
            "last_eval": self.last_eval,
            "best_eval": self.best_eval,
            "fingerprint": self.loaded.fingerprint,
            "skipped_rows": dict(self.data.skipped),
            "timing": self.timing(),
        }
        if self.init_report is not None:
            final["init_from"] = self.init_report.as_dict()
        (self.run_dir / "result.json").write_text(json.dumps(final, indent=2))
        if outcome == "stopped":
            self.console.print(
                f"stopped after step {self.step} as asked; continue with "
                "`etdecl train ... --resume`"
            )
        if math.isnan(self.last_eval.get("loss", 0.0)):
            self.console.print("dev loss is NaN", style="red")
