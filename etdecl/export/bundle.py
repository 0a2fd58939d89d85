"""The bundle: one folder that evaluate, predict and serve load without the run directory, the
training code path or the pretrained model packages it was trained from.

    manifest.json        what is inside: etdecl version, recipe name and fingerprint, datasets
                         with their input fields, heads with their type and labels, encoders,
                         and a sha256 of every file (checked when loading)
    recipe.yaml          the run's resolved recipe, as it was trained
    model.safetensors    the graph's weights, consolidated from any plugin's checkpoint
    tokenizers/<key>/    each tokenizer's files (save_pretrained)
    encoders/<name>/     each transformer encoder's config.json (built from it, then loaded)
    onnx/<dataset>.onnx  with --format onnx: each dataset's graph for ONNX Runtime

The folder is written under a temporary name and renamed when complete, with the manifest
last, so a crash never leaves something that looks like a bundle.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from ..data.examples import file_sha256 as sha256
from ..engine.inference import LoadedRun, RunError
from ..engine.student_files import config_built

FORMAT = "etdecl-bundle"
FORMAT_VERSION = 1
"""Raised when a change would stop older etdecl versions from reading a bundle."""


def describe(run: LoadedRun) -> dict[str, Any]:
    """The manifest's description of the graph: datasets, heads and encoders."""
    compiled = run.compiled
    heads: dict[str, Any] = {}
    datasets: dict[str, Any] = {}
    for ds, names in compiled.dataset_heads.items():
        fields: dict[str, str] = {}
        for h in names:
            task = compiled.tasks[h]
            fields.update(task.input_fields())
            heads[h] = {"type": task.kind, "dataset": ds, "inputs": compiled.model.inputs[h]}
            if hasattr(task, "labels"):
                heads[h]["labels"] = list(task.labels)
        datasets[ds] = {"heads": list(names), "fields": fields}
    encoders: dict[str, Any] = {}
    for name, cfg in run.loaded.recipe.encoders.items():
        enc = compiled.model.encoders[name]
        entry: dict[str, Any] = {"type": cfg.type,
                                 "tokenizer": f"tokenizers/{compiled.tokenizer_of[name]}"}
        if cfg.type == "hf":
            entry["config"] = f"encoders/{name}/config.json"
        else:
            entry["embedding"] = list(enc.embedding.weight.shape)
        encoders[name] = entry
    return {"datasets": datasets, "heads": heads, "encoders": encoders,
            "max_length": run.loaded.recipe.data.max_length}


def _source(run: LoadedRun) -> dict[str, Any]:
    folder = run.checkpoint.parent
    state = folder / "state.json"
    step = json.loads(state.read_text()).get("step") if state.is_file() else None
    return {"run": str(run.run_dir.resolve()), "checkpoint": folder.name, "step": step}


def _write_files(run: LoadedRun, folder: Path) -> None:
    from safetensors.torch import save_model

    save_model(run.compiled.model, str(folder / "model.safetensors"))
    shutil.copyfile(run.loaded.file, folder / "recipe.yaml")
    for key, tok in run.compiled.tokenizers.items():
        tok.save_pretrained(str(folder / "tokenizers" / key))
    for name, enc in run.compiled.model.encoders.items():
        if hasattr(enc, "backbone"):
            enc.backbone.config.save_pretrained(str(folder / "encoders" / name))


def write_bundle(run: LoadedRun, out: Path, force: bool = False,
                 extra: Callable[[Path], dict[str, Any]] | None = None) -> Path:
    """Write `run` as a bundle at `out`. `extra(folder)` adds files of another format (ONNX)
    before the manifest is written and returns manifest entries describing them."""
    if out.exists() and not force:
        raise RunError(f"{out} already exists; choose another --output, or pass --force to "
                       "replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        _write_files(run, tmp)
        manifest: dict[str, Any] = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "etdecl": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "recipe": {"name": run.loaded.recipe.name, "fingerprint": run.loaded.fingerprint,
                       "file": "recipe.yaml"},
            "source": _source(run),
            **describe(run),
        }
        if extra is not None:
            manifest.update(extra(tmp))
        manifest["files"] = {str(p.relative_to(tmp)): sha256(p)
                             for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            trash = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(trash)
            tmp.rename(out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise RunError(f"{path / 'manifest.json'} cannot be read: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RunError(f"{path} is not an etdecl bundle (manifest.json has no "
                       f"\"format\": \"{FORMAT}\")")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RunError(f"{path} is a bundle of format version {version}; this etdecl "
                       f"({__version__}) reads versions up to {FORMAT_VERSION}: upgrade etdecl")
    return manifest


def verify(path: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists is there with its recorded sha256."""
    for name, digest in manifest.get("files", {}).items():
        file = path / name
        if not file.is_file():
            raise RunError(f"bundle {path} is incomplete: {name} is missing")
        if sha256(file) != digest:
            raise RunError(f"bundle {path} is damaged: {name} differs from the sha256 in "
                           "manifest.json")


def _encoder_configs(path: Path, manifest: dict[str, Any], recipe: Any) -> dict[str, Any]:
    """The recipe's encoders rebuilt from the bundle's own files: transformer configs (no
    pretrained weights) and tokenizers, small encoders with embeddings of the saved shape."""
    out: dict[str, Any] = {}
    for name, cfg in recipe.encoders.items():
        entry = manifest["encoders"].get(name)
        if entry is None:
            raise RunError(f"bundle {path}: manifest.json does not describe encoder '{name}'")
        tokenizer = str((path / entry["tokenizer"]).resolve())
        if cfg.type == "hf":
            out[name] = config_built(cfg, path / entry["config"], path / entry["tokenizer"])
        else:
            rows, dim = entry["embedding"]
            out[name] = cfg.model_copy(update={"embeddings": "random", "embedding_dim": dim,
                                               "tokenizer": tokenizer})
    return out


def load_bundle(path: Path, check: bool = True) -> LoadedRun:
    """A bundle as a LoadedRun (its folder stands in for the run directory)."""
    from safetensors.torch import load_model

    from ..compile.graph import compile_recipe
    from ..recipe.validate import load_recipe

    manifest = read_manifest(path)
    if check:
        verify(path, manifest)
    loaded = load_recipe(path / manifest["recipe"]["file"], check_data=False)
    compiled = compile_recipe(loaded, _encoder_configs(path, manifest, loaded.recipe))
    weights = path / "model.safetensors"
    missing, unexpected = load_model(compiled.model, str(weights), strict=False)
    if missing or unexpected:
        raise RunError(f"the weights in {weights} do not fit the bundle's recipe: "
                       f"{len(missing)} missing, {len(unexpected)} unexpected "
                       f"(e.g. {sorted(missing or unexpected)[0]})")
    compiled.model.eval()
    return LoadedRun(path, loaded, compiled, weights, manifest)
