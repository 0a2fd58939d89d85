"""Use a finished run: load its graph with the weights of its best (or last) checkpoint, then
score a labelled file (`etdecl evaluate`) or predict an unlabelled one (`etdecl predict`).

One process, no plugin: checkpoints of every plan are safetensors (one file, or shards with an
index, which ZeRO, Gemini and hybrid plans write already gathered), read weights-only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..compile.graph import CompiledModel, compile_recipe
from ..data.examples import row_example
from ..data.tokens import DatasetFeatures
from ..datafiles.readers import DataError, Row, iter_rows
from ..datafiles.values import as_text
from ..recipe.datasets import DatasetView, datasets
from ..recipe.domains import domain_ids
from ..recipe.loaded import LoadedRecipe
from ..recipe.validate import load_recipe
from .evaluate import run_dataset, score
from .run_data import dataset_features
from .student_files import saved_encoder_configs


class RunError(Exception):
    """A run directory that cannot be used (no recipe, no checkpoint, unknown dataset)."""


@dataclass
class LoadedRun:
    run_dir: Path
    loaded: LoadedRecipe
    compiled: CompiledModel
    checkpoint: Path
    manifest: dict[str, Any] | None = None
    """A bundle's manifest.json (None for a run directory)."""


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if path.is_file():
        return load_file(str(path))
    index = next(path.glob("*.index.json"), None)
    if index is None:
        files = sorted(path.glob("*.safetensors"))
        if not files:
            raise RunError(f"no safetensors weights in {path}")
    else:
        files = sorted({path / f for f in json.loads(index.read_text())["weight_map"].values()})
    out: dict[str, torch.Tensor] = {}
    for f in files:
        out.update(load_file(str(f)))
    return out


def _followed(run_dir: Path) -> Path:
    """A staged run's top-level folder stands for its last finished stage."""
    from .stages import stage_run_dir

    try:
        return stage_run_dir(run_dir) or run_dir
    except FileNotFoundError as err:
        raise RunError(str(err)) from None


def checkpoint_weights(run_dir: Path, which: str = "best") -> Path:
    run_dir = _followed(run_dir)
    root = run_dir / "checkpoints"
    if which == "best":
        folder = root / "best"
    else:
        pointer = root / "last"
        if not pointer.is_file():
            raise RunError(f"{run_dir} has no checkpoint (no {pointer})")
        folder = root / pointer.read_text().strip()
    for name in ("model.safetensors", "model"):
        if (folder / name).exists():
            return folder / name
    raise RunError(f"{run_dir} has no {which} checkpoint (looked in {folder})")


def load_run(run_dir: Path, which: str = "best") -> LoadedRun:
    run_dir = _followed(run_dir)
    recipe = run_dir / "recipe.yaml"
    if not recipe.is_file():
        raise RunError(f"{run_dir} is not a run directory (no recipe.yaml)")
    loaded = load_recipe(recipe, check_data=False)
    weights = checkpoint_weights(run_dir, which)
    compiled = compile_recipe(loaded, saved_encoder_configs(run_dir, loaded.recipe))
    # a training method's modules (discriminators, projections) are not part of the model
    state = {k: v for k, v in _state_dict(weights).items() if not k.startswith("objectives.")}
    missing, unexpected = compiled.model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("objectives.")]
    if missing or unexpected:
        raise RunError(f"the checkpoint {weights} does not fit the recipe's graph: "
                       f"{len(missing)} missing, {len(unexpected)} unexpected weights "
                       f"(e.g. {(missing or unexpected)[0]})")
    compiled.model.eval()
    return LoadedRun(run_dir, loaded, compiled, weights)


def load_model(path: Path, which: str = "best") -> LoadedRun:
    """A run directory (its best or last checkpoint) or an exported bundle, loaded the same way
    for evaluate, predict and serve."""
    if (path / "manifest.json").is_file():
        from ..export.bundle import load_bundle

        if which != "best":
            raise RunError(f"{path} is a bundle: it holds one set of weights, so --checkpoint "
                           "does not apply")
        return load_bundle(path)
    if not (path / "recipe.yaml").is_file():
        kind = "folder" if path.is_dir() else "path that does not exist" if not path.exists() \
            else "file"
        raise RunError(f"{path} is neither a run directory (no recipe.yaml) nor a bundle "
                       f"(no manifest.json): it is a {kind}")
    return load_run(path, which)


def pick_dataset(run: LoadedRun, name: str | None) -> DatasetView:
    views = datasets(run.loaded.recipe)
    if name is None:
        if len(views) > 1:
            raise RunError(f"the recipe has {len(views)} datasets; say which one's heads and "
                           f"fields to use with --dataset ({', '.join(views)})")
        return next(iter(views.values()))
    if name not in views:
        raise RunError(f"no dataset '{name}' in the recipe (it has {', '.join(views)})")
    return views[name]


def _rows(run: LoadedRun, view: DatasetView, path: Path, with_targets: bool,
          start: int = 0, where: dict[str, list[Any]] | None = None) -> Iterator[Any]:
    tasks = [run.compiled.tasks[h] for h in run.compiled.dataset_heads[view.name]]
    keep = view.where if where is None else where
    filters = {k: {as_text(v) for v in vs} for k, vs in keep.items()} if with_targets else {}
    index = start
    for row in iter_rows(path, str(path)):
        values = row.values
        if any(k in values and as_text(values[k]) not in ok for k, ok in filters.items()):
            continue
        yield row, row_example(row, view, tasks, index, with_targets,
                               run.loaded.recipe.data.domains)
        index += 1


def _check_domains(run: LoadedRun, view: DatasetView, examples: list) -> None:
    """Rows a domain-routing tower reads need a domain of `data.domains`: refuse the first
    that has none, or another, naming its line and the field."""
    heads = run.compiled.dataset_heads[view.name]
    routing = run.compiled.model.routing_towers(heads)
    domains = run.loaded.recipe.data.domains or []
    if not routing:
        return
    field = view.fields.domain or "domain"
    for e in examples:
        if e.domain is None:
            raise DataError(e.file, e.line, f"missing field '{field}' (domain): tower "
                            f"'{routing[0]}' runs each row through its domain's part",
                            f"missing field '{field}'")
        if e.domain not in domains:
            raise DataError(e.file, e.line, f"domain '{e.domain}' is not one of data.domains "
                            f"({', '.join(domains)})", f"unknown domain '{e.domain}'")


def _features(run: LoadedRun, view: DatasetView, examples: list, key: str) -> DatasetFeatures:
    index = list(run.compiled.dataset_heads).index(view.name)
    recipe = run.loaded.recipe  # batches carry the training run's domain ids when declared
    _check_domains(run, view, examples)
    return dataset_features(run.compiled, view.name, index, examples, key,
                            recipe.data.max_length, use_cache=False,
                            domains=domain_ids(recipe, []) if recipe.data.domains else None)


PRECISIONS = ("recipe", "fp32", "bf16")


def inference_precision(run: LoadedRun, precision: str = "recipe") -> str:
    """fp32 or bf16: `recipe` follows the recipe's `parallel.precision` (its dev evaluations
    ran so); fp16 runs in fp32, as CPU autocast has no fast fp16 kernels."""
    if precision not in PRECISIONS:
        raise RunError(f"precision must be one of {', '.join(PRECISIONS)}, not '{precision}'")
    if precision == "recipe":
        return "bf16" if run.loaded.recipe.parallel.precision == "bf16" else "fp32"
    return precision


def torch_forward(run: LoadedRun, precision: str = "fp32"):
    """The graph in torch as the evaluator's forward; bf16 under CPU autocast (weights stay
    fp32; tasks read outputs as fp32)."""
    model = run.compiled.model
    bf16 = inference_precision(run, precision) == "bf16"

    @torch.no_grad()
    def forward(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(**batch)

    return forward


def evaluate_file(run: LoadedRun, path: Path, dataset: str | None = None,
                  batch_size: int = 64, forward=None,
                  where: dict[str, list[Any]] | None = None) -> dict[str, Any]:
    """Every head of the dataset scored on a labelled file with the recipe's field mapping.
    `where` keeps other rows than the dataset's own filter (e.g. a target domain's rows scored
    by a model trained on the source domains only)."""
    view = pick_dataset(run, dataset)
    examples = [e for _, e in _rows(run, view, path, True, where=where)]
    if not examples:
        raise DataError(str(path), 0, "no usable rows (check the field mapping and data.where)")
    ds = _features(run, view, examples, f"evaluate:{path}")
    results, losses = run_dataset(forward or torch_forward(run), ds, batch_size, 1, 0, True)
    return score(ds, results, losses)[0]


def _predict_examples(run: LoadedRun, view: DatasetView, examples: list, key: str,
                      batch_size: int, forward=None) -> list[dict[str, Any]]:
    """User-facing predictions by head for each example, in order."""
    ds = _features(run, view, examples, key)
    results, _ = run_dataset(forward or torch_forward(run), ds, batch_size, 1, 0, True,
                             with_targets=False)
    by_head = {t.name: t.decode(results[t.name], ds.feats, ds.examples) for t in ds.tasks}
    return [{h: preds[i] for h, preds in by_head.items()} for i in range(len(examples))]


def predict_records(run: LoadedRun, records: list[dict[str, Any]], dataset: str | None = None,
                    batch_size: int = 64, source: str = "request",
                    forward=None) -> list[dict[str, Any]]:
    """User-facing predictions by head for in-memory rows (keyed by the recipe's field names),
    as `predict` writes them for a file's rows. A bad row raises DataError naming `source` and
    the row's 1-based position (`line`)."""
    view = pick_dataset(run, dataset)
    tasks = [run.compiled.tasks[h] for h in run.compiled.dataset_heads[view.name]]
    examples = []
    for i, values in enumerate(records):
        if not isinstance(values, dict):
            raise DataError(source, i + 1, f"must be an object of fields, found "
                            f"{type(values).__name__}", "not an object")
        examples.append(row_example(Row(values, source, i + 1), view, tasks, i, False,
                                    run.loaded.recipe.data.domains))
    if not examples:
        return []
    return _predict_examples(run, view, examples, f"predict:{source}", batch_size, forward)


def predict_file(run: LoadedRun, path: Path, dataset: str | None = None, chunk: int = 512,
                 batch_size: int = 64, forward=None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(input line, user-facing predictions by head) for every row, in input order, a chunk
    of rows at a time so files of any size stream through."""
    view = pick_dataset(run, dataset)
    pending: list = []

    def flush() -> Iterator[tuple[int, dict[str, Any]]]:
        preds = _predict_examples(run, view, [e for _, e in pending], f"predict:{path}",
                                  batch_size, forward)
        for (row, _), by_head in zip(pending, preds, strict=True):
            out: dict[str, Any] = {"line": row.line}
            if "id" in row.values:
                out["id"] = row.values["id"]
            out.update(by_head)
            yield row.line, out

    for row, example in _rows(run, view, path, False):
        pending.append((row, example))
        if len(pending) >= chunk:
            yield from flush()
            pending = []
    if pending:
        yield from flush()
