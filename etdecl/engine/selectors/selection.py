"""The run's selectors as one object the trainer and the loss use (`Selection`), built from
the recipe's `selectors:` section, and the trainer-side `FeatureSource` the `bayes` selector
reads the model's pooled features, word pieces and labels from."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import Scope, Selector, feature_key
from .bayes import BayesSelector
from .reinforced import MinimaxSelector, ReinforcedSelector


def resolve_scope(name: str, cfg: Any, recipe: Any, train_data: list[Any],
                  dataset_heads: dict[str, list[str]], graph: Any) -> Scope:
    """Ids of the selector's source dataset, source domains and target domain (the checks in
    `recipe/check_selectors.py` have vetted the names; here they meet the data's ids)."""
    by_name = {d.name: d for d in train_data}
    source = cfg.source or ("source" if "source" in by_name else next(iter(by_name)))
    ds = by_name[source]
    ids = ds.domains
    target = cfg.target_domain or recipe.data.target_domain
    if target not in ids:
        raise ValueError(f"selector {name}: no row is of the target domain '{target}'")
    present = {int(i) for i in np.unique(ds.feature_domains()) if i >= 0}
    wanted = cfg.domains or [n for n, i in ids.items() if i in present and n != target]
    missing = [n for n in wanted if n not in ids or ids[n] not in present]
    if missing or not wanted:
        raise ValueError(f"selector {name}: dataset '{source}' has no training row of "
                         + (f"domain {', '.join(map(repr, missing))}" if missing
                            else "a source domain") + ", so it would judge nothing")
    head = dataset_heads[source][0]
    node = graph.inputs[head][0]
    return Scope(name=name, source=source, source_id=ds.index,
                 domain_ids=[ids[n] for n in wanted if n in ids], target_id=ids[target],
                 domain_names={i: n for n, i in ids.items()}, head=head, node=node)


class Selection:
    """Every selector of the run: the features hook, per-batch weights, episode ends and
    state. Weights of several selectors multiply."""

    def __init__(self, selectors: list[Selector], graph: Any) -> None:
        self.selectors = selectors
        self.stats: dict[str, float] = {}
        self.step = 0
        self.micro = 0
        self.nodes = {s.scope.node for s in selectors}
        if selectors and graph is not None:
            previous = graph.extra_forward

            def hook(g: nn.Module, encoded: dict, out: dict, batch: dict) -> dict:
                extra = previous(g, encoded, out, batch) if previous is not None else {}
                if g.training:
                    for node in sorted(self.nodes):
                        if (node, "a") in encoded:
                            extra[feature_key(node)] = \
                                encoded[(node, "a")].pooled.detach().float()
                return extra

            graph.extra_forward = hook

    @property
    def needs_initial_eval(self) -> bool:
        return any(s.needs_initial_eval for s in self.selectors)

    def set_step(self, step: int) -> None:
        if step != self.step:
            self.step, self.micro = step, 0

    def weights(self, outputs: dict[str, torch.Tensor],
                batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        self.stats = {}
        combined = None
        call = self.step * 64 + self.micro
        self.micro += 1
        for s in self.selectors:
            w = s.weights(outputs, batch, call)
            self.stats.update(getattr(s, "stats", {}))
            if w is not None:
                combined = w if combined is None else combined * w
        return combined

    def on_eval(self, step: int, metrics: dict[str, Any], metric: str) -> None:
        """End each selector's episode with the run's metric (`HEAD.METRIC[...]`) read on its
        target domain's dev rows."""
        base = metric.split("[", 1)[0]
        for s in self.selectors:
            key = f"{base}[{s.scope.domain_names[s.scope.target_id]}]"
            if key not in metrics:
                raise ValueError(f"selector {s.scope.name}: the evaluation has no {key} (no "
                                 "dev row of the target domain?); its reward needs it")
            s.on_eval(step, float(metrics[key]))
            self.stats.update(getattr(s, "stats", {}))

    def episode_stats(self) -> dict[str, float]:
        return {k: v for k, v in self.stats.items()
                if k.endswith((".reward", ".advantage"))}

    def state_dict(self) -> dict[str, Any]:
        return {s.scope.name: s.state_dict() for s in self.selectors}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for s in self.selectors:
            s.load_state_dict(state.get(s.scope.name, {}))

    def summary(self) -> list[tuple[str, str]]:
        return [row for s in self.selectors for row in s.summary()]


def build_selection(recipe: Any, train_data: list[Any], dataset_heads: dict[str, list[str]],
                    graph: Any, tasks: dict[str, Any], run_dir: Path, is_main: bool,
                    rank: int) -> Selection | None:
    if not recipe.selectors:
        return None
    out: list[Selector] = []
    for i, (name, cfg) in enumerate(recipe.selectors.items()):
        scope = resolve_scope(name, cfg, recipe, train_data, dataset_heads, graph)
        seed = int(recipe.train.seed) + 7 * i
        if cfg.type == "bayes":
            out.append(BayesSelector(cfg, scope, run_dir, is_main, seed))
            continue
        labels = getattr(tasks[scope.head], "labels", None)
        cls = MinimaxSelector if cfg.type == "minimax" else ReinforcedSelector
        out.append(cls(cfg, scope, run_dir, is_main, seed, graph.node_width(scope.node),
                       len(labels) if labels else None, rank))
    return Selection(out, graph)


class ModelFeatures:
    """`bayes.FeatureSource` over the run's data and the model as it starts (eval mode, no
    gradients, the plan's precision)."""

    def __init__(self, model: Any, train: list[Any], dev: list[Any], tokenizer: Any,
                 node: str, head: str, precision: Any = None, console: Any = None,
                 batch_size: int = 64) -> None:
        self.model = model
        self.split = {"train": {d.index: d for d in train}, "dev": {d.index: d for d in dev}}
        self.node, self.head = node, head
        self.precision = precision or nullcontext
        self.batch_size = batch_size
        self.special = set(getattr(tokenizer, "all_special_ids", []) or [])
        self.vocab_size = int(len(tokenizer))
        self.console = console

    def domains(self, split: str, dataset: int) -> np.ndarray:
        return self.split[split][dataset].feature_domains()

    def rows(self, split: str, dataset: int | None, domain: int) -> list[tuple[int, np.ndarray]]:
        out = []
        for i, d in self.split[split].items():
            if dataset is not None and i != dataset:
                continue
            if self.head not in {t.name for t in d.tasks}:
                continue
            rows = np.flatnonzero(d.feature_domains() == domain)
            if len(rows):
                out.append((i, rows))
        return out

    @torch.no_grad()
    def pooled(self, split: str, dataset: int, rows: np.ndarray) -> np.ndarray:
        ds = self.split[split][dataset]
        graph = self.model
        grabbed: list[torch.Tensor] = []
        previous = graph.extra_forward

        def grab(g: nn.Module, encoded: dict, out: dict, batch: dict) -> dict:
            grabbed.append(encoded[(self.node, "a")].pooled.detach().float())
            return {}

        was_training = graph.training
        graph.eval()
        graph.extra_forward = grab
        try:
            for start in range(0, len(rows), self.batch_size):
                batch = ds.batch(rows[start:start + self.batch_size], with_targets=False)
                with self.precision():
                    graph(**batch)
        finally:
            graph.extra_forward = previous
            graph.train(was_training)
        return torch.cat(grabbed).numpy().astype(np.float64) if grabbed else np.zeros((0, 1))

    def tokens(self, split: str, dataset: int, rows: np.ndarray) -> list[np.ndarray]:
        feats = self.split[split][dataset].feats
        special = np.asarray(sorted(self.special), dtype=np.int64)
        out = []
        for r in rows:
            ids = np.asarray(feats.ids[feats.offsets[r]:feats.offsets[r + 1]], dtype=np.int64)
            out.append(ids[~np.isin(ids, special)])
        return out

    def labels(self, split: str, dataset: int, rows: np.ndarray) -> np.ndarray:
        batch = self.split[split][dataset].batch(rows)
        return batch[f"{self.head}.label"].numpy()

    def progress(self, total: int, label: str) -> Any:
        if self.console is None:
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("{task.description}"), BarColumn(),
                       TextColumn("{task.completed}/{task.total}  best {task.fields[best]}"),
                       TimeRemainingColumn(), console=self.console, transient=True)
        task = bar.add_task(label, total=total, best="-")
        bar.start()

        def update(trial: int, best: float) -> None:
            bar.update(task, completed=trial + 1, best=f"{best:.4f}")
            if trial + 1 >= total:
                bar.stop()

        return update
