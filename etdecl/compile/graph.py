"""Compile a checked recipe into a ModelGraph: named encoders → heads (a small DAG), plus the
tasks, tokenizers and datasets the data pipeline and trainer need.

`ModelGraph.forward(**batch)` takes the flat batch dict (so every plugin, pipelines included,
can split it) and returns a flat dict `{"<head>.<output>": tensor}`. Towers (recipe `towers:`)
sit between encoders and heads; nodes are evaluated on demand, each once per view, and the
towers' extra losses come back as scalars `aux.<tower>.<part>` (training only).
Per-example losses are computed inside forward (`<head>.loss`), where sharded plugins have
the parameters at hand; training methods only combine tensors. Every head runs on every batch
(heads are small); only the heads of the batch's dataset get targets and so a loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..components.encoders import ENCODERS, HFTextEncoder, load_tokenizer
from ..components.extract import TeacherEncoders, student_from_teacher
from ..components.outputs import EncoderOutput
from ..components.towers import TowerContext
from ..data.collate import view_key
from ..recipe.datasets import dataset_heads, datasets
from ..recipe.errors import Problem, RecipeError
from ..recipe.loaded import LoadedRecipe
from ..tasks.base import Task, encoder_input
from ..tasks.registry import TASKS
from .tower_build import build_towers


def tokenizer_suffix(key: str, primary: str) -> str:
    """Batch keys of the primary tokenizer are bare; others carry `@<tokenizer>`."""
    return "" if key == primary else f"@{key}"


class ModelGraph(nn.Module):
    """Encoders and heads by recipe name, wired by each head's inputs."""

    def __init__(
        self,
        encoders: dict[str, nn.Module],
        heads: dict[str, nn.Module],
        tasks: dict[str, Task],
        inputs: dict[str, list[str]],
        views: dict[str, tuple[str, ...]],
        tokenizer_of: dict[str, str],
        primary_tokenizer: str,
        towers: dict[str, nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        self.towers = nn.ModuleDict(towers or {})
        self.progress = 0.0
        """Training progress 0..1, set by the trainer each step (DANN reversal schedules)."""
        self._routes: dict[str, bool] = {}
        self.heads = nn.ModuleDict(heads)
        self.objectives = nn.ModuleDict()
        """Trainable modules of the training method (discriminators, projections), run by it
        inside forward through `extra_forward`."""
        self.tasks = tasks
        self.inputs = inputs
        self.views = views
        self.tokenizer_of = tokenizer_of
        self.primary_tokenizer = primary_tokenizer
        self.expose: set[str] = set()
        """Encoder outputs a method wants returned too, as `<encoder>.<view>.<field>`."""
        self.extra_forward = None

    def encode(self, name: str, view: str, batch: dict[str, torch.Tensor]) -> EncoderOutput:
        suffix = tokenizer_suffix(self.tokenizer_of[name], self.primary_tokenizer)
        return self.encoders[name](
            batch[view_key("input_ids", view) + suffix],
            batch[view_key("attention_mask", view) + suffix],
            batch.get(view_key("token_type_ids", view) + suffix),
        )

    def batch_key(self, name: str, view: str) -> str:
        """The batch key holding node `name`'s ids for `view` (a tower: its first encoder's)."""
        return view_key("input_ids", view) + tokenizer_suffix(self.tokenizer_of[name],
                                                              self.primary_tokenizer)

    def roots(self, name: str) -> list[str]:
        """The encoders a node reads, directly or through towers."""
        if name in self.encoders:
            return [name]
        tower = self.towers[name]
        deps = [getattr(tower, k) for k in ("source", "shared", "private") if hasattr(tower, k)]
        return list(dict.fromkeys(r for d in deps for r in self.roots(d)))

    def routing_towers(self, heads: list[str]) -> list[str]:
        """Towers these heads read (directly or not) that route each row by its domain."""
        found: list[str] = []

        def visit(name: str) -> None:
            if name in self.towers and name not in found:
                tower = self.towers[name]
                for dep in (getattr(tower, k) for k in ("source", "shared", "private")
                            if hasattr(tower, k)):
                    visit(dep)
                if getattr(tower, "routes_by_domain", False):
                    found.append(name)

        for head in heads:
            for name in self.inputs[head]:
                visit(name)
        return found

    def node_width(self, name: str) -> int:
        return int((self.towers[name] if name in self.towers else self.encoders[name])
                   .hidden_size)

    def ids(self, name: str, view: str, batch: dict[str, torch.Tensor]):
        suffix = tokenizer_suffix(self.tokenizer_of[name], self.primary_tokenizer)
        return (batch[view_key("input_ids", view) + suffix],
                batch[view_key("attention_mask", view) + suffix],
                batch.get(view_key("token_type_ids", view) + suffix))

    def evaluate_nodes(self, wanted: set[tuple[str, str]], batch: dict[str, torch.Tensor]
                       ) -> tuple[dict[tuple[str, str], EncoderOutput], dict[str, torch.Tensor]]:
        """Each wanted (node, view) and what it reads, once; towers' losses summed by part."""
        encoded: dict[tuple[str, str], EncoderOutput] = {}
        aux: dict[str, torch.Tensor] = {}

        def node(name: str, view: str) -> EncoderOutput:
            if (name, view) not in encoded:
                if name in self.encoders:
                    encoded[(name, view)] = self.encode(name, view, batch)
                else:
                    ctx = TowerContext(lambda n: node(n, view),
                                       lambda n: self.ids(n, view, batch), batch, self.progress)
                    out, losses = self.towers[name](ctx)
                    encoded[(name, view)] = out
                    for part, value in losses.items():
                        key = f"aux.{name}.{part}"
                        aux[key] = aux[key] + value if key in aux else value
            return encoded[(name, view)]

        for name, view in sorted(wanted):
            node(name, view)
        return encoded, aux

    def runnable(self, batch: dict[str, torch.Tensor]) -> list[str]:
        """Heads whose inputs this batch carries (a batch holds its own dataset's tokenizers
        and views; every head runs where it can, so parameters stay in use)."""
        return [h for h in self.tasks
                if all(self.batch_key(n, v) in batch for n in self.inputs[h]
                       for v in self.views[h]) and self._routable(h, batch)]

    def _routable(self, head: str, batch: dict[str, torch.Tensor]) -> bool:
        """A head reading a domain-routing tower skips batches of another dataset whose rows
        have no domain at all (multi-task graphs); otherwise a row without one is refused by
        the tower, naming it."""
        if not self.towers or self.tasks[head].in_batch(batch):
            return True
        if head not in self._routes:
            self._routes[head] = bool(self.routing_towers([head]))
        domain = batch.get("domain")
        return not self._routes[head] or (domain is not None and bool((domain >= 0).any()))

    def run_heads(self, encoded: dict[tuple[str, str], EncoderOutput],
                  batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for head in self.runnable(batch):
            task = self.tasks[head]
            views = {v: encoder_input([encoded[(n, v)] for n in self.inputs[head]])
                     for v in self.views[head]}
            module = self.heads[head]
            result = module(views)
            if task.has_targets(batch):
                result["loss"] = task.loss(result, batch, module)
            if not self.training and task.in_batch(batch):
                result.update(task.eval_outputs(result, batch, module))
            out.update({f"{head}.{k}": v for k, v in result.items()})
        for key in self.expose:
            name, view, what = key.split(".", 2)
            if (name, view) not in encoded:
                continue
            value = getattr(encoded[(name, view)], what)
            if isinstance(value, (tuple, list)):
                out.update({f"{key}.{i}": v for i, v in enumerate(value)})
            elif value is not None:
                out[key] = value
        if self.extra_forward is not None:
            out.update(self.extra_forward(self, encoded, out, batch))
        return out

    def forward(self, **batch: torch.Tensor) -> dict[str, torch.Tensor]:
        wanted = {(n, v) for h in self.runnable(batch) for n in self.inputs[h]
                  for v in self.views[h]}
        wanted |= {tuple(k.split(".")[:2]) for k in self.expose
                   if self.batch_key(*k.split(".")[:2]) in batch}
        encoded, aux = self.evaluate_nodes(wanted, batch)
        out = self.run_heads(encoded, batch)
        out.update(aux)
        return out

    def hf_encoders(self) -> dict[str, HFTextEncoder]:
        return {n: e for n, e in self.encoders.items() if isinstance(e, HFTextEncoder)}


@dataclass
class CompiledModel:
    model: ModelGraph
    tokenizers: dict[str, Any]
    """Tokenizer key → tokenizer (one per distinct tokenizer in the graph)."""
    tasks: dict[str, Task]
    dataset_heads: dict[str, list[str]]
    """Dataset → the heads it trains (recipe order)."""
    primary_tokenizer: str
    tokenizer_of: dict[str, str] = field(default_factory=dict)

    @property
    def tokenizer(self) -> Any:
        return self.tokenizers[self.primary_tokenizer]

    def tokenizer_for_head(self, head: str) -> str:
        return self.tokenizer_of[self.model.inputs[head][0]]


def _build_error(loaded: LoadedRecipe, name: str, key: str, err: Exception) -> RecipeError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return RecipeError([Problem(f"encoder '{name}' cannot be built: {first}",
                                loc=loaded.where("encoders", name, key),
                                path=f"encoders.{name}.{key}")])


def _tokenizer_name(cfg) -> tuple[str, str]:
    """(tokenizer name or folder, recipe key it was given under)."""
    if cfg.type == "hf":
        return (cfg.tokenizer, "tokenizer") if cfg.tokenizer else (cfg.model, "model")
    return cfg.tokenizer, "tokenizer"


def _from_teacher(cfg) -> bool:
    """An hf encoder built from a teacher's (a bundle's copy has its own config instead)."""
    return (cfg.type == "hf" and getattr(cfg, "from_teacher", None) is not None
            and cfg.model is None and cfg.config is None)


def compile_recipe(loaded: LoadedRecipe,
                   encoder_configs: dict[str, Any] | None = None) -> CompiledModel:
    """Build the module graph (weights loaded), its tasks and its tokenizers.

    `encoder_configs` replaces encoders' recipe entries: a bundle builds each encoder from the
    model config and tokenizer it carries (weights follow from its own file), so loading it
    needs neither the pretrained model package nor the run directory.
    """
    recipe = loaded.recipe
    torch.manual_seed(recipe.train.seed)
    tokenizers: dict[str, Any] = {}
    tokenizer_of: dict[str, str] = {}
    folders: dict[str, str] = {}
    configs = {**recipe.encoders, **(encoder_configs or {})}
    teachers = TeacherEncoders(loaded)  # `from_teacher:` students start from these
    for name, cfg in configs.items():
        tok_name, key = _tokenizer_name(cfg)
        base = loaded.origin_dir("encoders", name, key)
        trust = getattr(cfg, "trust_remote_code", False)
        try:
            if _from_teacher(cfg):
                key = "from_teacher"
                tok = teachers.get(cfg.from_teacher)[1]
            else:
                tok = load_tokenizer(tok_name, base, trust)
        except (OSError, ValueError, LookupError) as err:
            raise _build_error(loaded, name, key, err) from err
        folder = str(getattr(tok, "name_or_path", tok_name))
        tk = folders.setdefault(folder, name)
        tokenizers.setdefault(tk, tok)
        tokenizer_of[name] = tk
    encoders: dict[str, nn.Module] = {}
    for name, cfg in configs.items():
        key = "model" if getattr(cfg, "model", None) is not None else (
            "config" if cfg.type == "hf" else "tokenizer")
        base = loaded.origin_dir("encoders", name, key)
        try:
            if _from_teacher(cfg):
                key = "from_teacher"
                enc = student_from_teacher(cfg, teachers.get(cfg.from_teacher)[0])
            elif cfg.type == "hf":
                enc = ENCODERS.get("hf")(cfg, base)
                vocab = enc.backbone.config.vocab_size
                n_tok = len(tokenizers[tokenizer_of[name]])
                if n_tok > vocab:
                    raise ValueError(f"the tokenizer has {n_tok} tokens but the model's "
                                     f"vocab_size is {vocab}")
            else:
                enc = ENCODERS.get(cfg.type)(cfg, base, tokenizers[tokenizer_of[name]])
        except (OSError, ValueError, LookupError) as err:
            # unreadable or refused weights (e.g. a pickle that weights-only loading rejects)
            raise _build_error(loaded, name, key, err) from err
        encoders[name] = enc
    views_of = datasets(recipe)
    by_dataset = dataset_heads(recipe)
    tasks: dict[str, Task] = {}
    heads: dict[str, nn.Module] = {}
    inputs: dict[str, list[str]] = {}
    views: dict[str, tuple[str, ...]] = {}
    try:
        towers = build_towers(dict(recipe.towers), encoders, recipe.data.domains)
    except (ValueError, KeyError) as err:
        raise RecipeError([Problem(f"towers cannot be built: {err}", loc=loaded.where("towers"),
                                   path="towers")]) from err
    for name, cfg in recipe.heads.items():
        ds = next((d for d, hs in by_dataset.items() if name in hs), None)
        fields = views_of[ds].fields if ds else recipe.data.fields
        task = TASKS[cfg.type](name, cfg, fields)
        tasks[name] = task
        inputs[name] = cfg.inputs()
        width = sum((towers.get(n) or encoders[n]).hidden_size for n in inputs[name])
        heads[name] = task.build_head(width)
        views[name] = ("a", "b") if getattr(cfg, "mode", None) == "siamese" else ("a",)
    first_head = next(iter(recipe.heads))
    graph = ModelGraph(encoders, heads, tasks, inputs, views, tokenizer_of, "", towers)
    for name, task in tasks.items():
        if graph.routing_towers([name]):
            task.domains = tuple(recipe.data.domains or ())
    for name in towers:  # a tower's batch keys are those of the first encoder it reads
        tokenizer_of[name] = tokenizer_of[graph.roots(name)[0]]
    primary = tokenizer_of[inputs[first_head][0]]
    graph.primary_tokenizer = primary
    return CompiledModel(graph, tokenizers, tasks, by_dataset, primary, tokenizer_of)
