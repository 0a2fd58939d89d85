"""Every gallery recipe, extended by a child that swaps in a local JSON Lines file (and a tiny
random BERT), validates and trains: the most common reason to extend a gallery recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sharing_support import ROOT, run_in_one_process, run_together, synthetic_rows, write_jsonl
from task_rows import span_rows, tag_rows

from etdecl.recipe.datasets import dataset_heads, datasets
from etdecl.recipe.validate import load_recipe

RECIPES = ROOT / "recipes"
SHIPPED = sorted(p.stem for p in RECIPES.glob("*.yaml") if not p.name.startswith("_"))

TINY = ("{$replace: true, type: hf, tokenizer: minilm-l6, pooling: mean, config: "
        "{model_type: bert, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, "
        "intermediate_size: 64, max_position_embeddings: 512}}")

TINY_ADABERT = ("{$replace: true, type: adabert, tokenizer: minilm-l6, embedding_dim: 16, "
                "hidden: 16, cells: 1, nodes: 2}")
"""An AdaBERT student stays one (its method searches it), only tiny."""


def _tiny(cfg) -> str:
    return TINY_ADABERT if cfg.type == "adabert" else TINY


def _rows(head, fields, n: int, seed: int, domains: list[str] | None = None) -> list[dict]:
    """Rows in the shape a head's task reads, under the parent's field names, labels and
    declared domains."""
    if head.type == "tag":
        return [{fields.tokens: r["tokens"], fields.tags: r["tags"]} for r in tag_rows(n, seed)]
    if head.type == "span":
        return [{fields.question: r["question"], fields.context: r["context"],
                 fields.answers: r["answers"]} for r in span_rows(n, seed)]
    out = []
    for row in synthetic_rows(n, seed):
        mine = {fields.text: row["text"], fields.label: head.labels[row["label"] == "pos"]}
        if fields.text_pair:
            mine[fields.text_pair] = row["text"]
        if fields.domain:
            mine[fields.domain] = domains["ab".index(row["domain"])] if domains \
                else row["domain"]
        out.append(mine)
    return out


def own_data_child(name: str, folder: Path) -> tuple[Path, int]:
    """A child of gallery recipe `name` on local JSONL files with the parent's field names and
    labels (every dataset of a multi-dataset recipe); returns it and the processes its
    parallel plan is written for."""
    parent = load_recipe(RECIPES / f"{name}.yaml", check_data=False).recipe
    folder.mkdir(parents=True, exist_ok=True)
    data = ""
    for ds, heads in dataset_heads(parent).items():
        view = datasets(parent)[ds]
        head = parent.heads[heads[0]]
        domains = parent.data.domains
        write_jsonl(folder / f"{ds}.jsonl", _rows(head, view.fields, 48, 1, domains))
        write_jsonl(folder / f"{ds}-dev.jsonl", _rows(head, view.fields, 16, 2, domains))
        sources = (f"train: {{$replace: true, path: {ds}.jsonl}}, "
                   f"dev: {{$replace: true, path: {ds}-dev.jsonl}}")
        data += (f"  {sources.replace(', dev', chr(10) + '  dev')}\n" if not parent.data.sets
                 else f"    {ds}: {{{sources}, where: {{$replace: true}}}}\n")
    data = ("data:\n" + data + "  where: {$replace: true}\n") if not parent.data.sets else (
        "data:\n  sets:\n" + data)
    encoders = "".join(f"  {enc}: {_tiny(cfg)}\n" for enc, cfg in parent.encoders.items())
    # a staged recipe's source run is not there: on its own data a child starts afresh
    init = ", init_from: null" if parent.train.init_from else ""
    child = folder / "child.yaml"
    child.write_text(
        f"extends: gallery:{name}\nname: own-{name}\n" + data +
        f"encoders:\n{encoders}"
        f"train: {{epochs: 1, max_steps: 2, batch_size: 8, eval_every: 2, log_every: 1{init}}}\n")
    if parent.teachers:  # a student on one's own data learns from one's own teacher
        searched = [e for e, c in parent.encoders.items() if c.type == "adabert"]
        _untrained_teacher(child, folder / "teacher-run", searched)
        child.write_text(child.read_text() + "teachers:\n" + "".join(
            f"  {t}: {{source: teacher-run}}\n" for t in parent.teachers))
    return child, parent.parallel.world_size or 1


def _untrained_teacher(child: Path, run_dir: Path, searched: list[str]) -> None:
    """The child without teachers (same tiny encoder, heads and data) saved as a finished run
    with its initial weights: a teacher of the right shape, without training one (an AdaBERT
    student's teacher: the tiny BERT)."""
    from safetensors.torch import save_model

    from etdecl.compile.graph import compile_recipe
    from etdecl.engine.launch import prepare_run_dir

    recipe = child.with_name("teacher.yaml")
    recipe.write_text(f"extends: {child.name}\nname: own-teacher\nteachers: {{$replace: true}}\n"
                      "method: {$replace: true, type: supervised}\nstages: []\n" + (
                          "encoders: {" + ", ".join(f"{e}: {TINY}" for e in searched) + "}\n"
                          if searched else ""))
    loaded = load_recipe(recipe, check_data=False)
    prepare_run_dir(loaded, run_dir, resume=False)
    compiled = compile_recipe(loaded)
    for folder in ("step-0000000", "best"):
        (run_dir / "checkpoints" / folder).mkdir(parents=True, exist_ok=True)
        save_model(compiled.model, str(run_dir / "checkpoints" / folder / "model.safetensors"))
        (run_dir / "checkpoints" / folder / "state.json").write_text(json.dumps({"step": 0}))
    (run_dir / "checkpoints" / "last").write_text("step-0000000\n")


@pytest.mark.parametrize("name", SHIPPED)
def test_child_on_own_data_validates(name: str, tmp_path: Path) -> None:
    child, _ = own_data_child(name, tmp_path)
    loaded = load_recipe(child)
    for ds, view in datasets(loaded.recipe).items():
        assert view.train.path == f"{ds}.jsonl" and view.dev.path == f"{ds}-dev.jsonl"
        for src in (view.train, view.dev):  # nothing of a parent's source survives
            assert (src.package, src.resource, src.limit) == (None, None, None)
        assert view.where == {}
    for enc in loaded.recipe.encoders.values():
        if enc.type == "adabert":
            assert enc.hidden == 16
            continue
        assert enc.model is None and enc.config["hidden_size"] == 32
    assert loaded.warnings == []


def _processes(name: str) -> int:
    return load_recipe(RECIPES / f"{name}.yaml", check_data=False).recipe.parallel.world_size or 1


@pytest.mark.parametrize("nproc", [1, pytest.param(2, marks=pytest.mark.dist)])
def test_children_on_own_data_train(nproc: int, tmp_path: Path, token_cache: Path) -> None:
    """Two steps each: the one-process runs one after another in one interpreter, the
    two-process runs started together (most of a run is interpreter and torch start-up)."""
    names = [n for n in SHIPPED if _processes(n) == nproc]
    assert names, f"no gallery recipe for {nproc} process(es)"
    runs = [(str(own_data_child(n, tmp_path / n)[0]), "--nproc", str(nproc)) for n in names]
    for name, done in zip(names, run_together_in(runs, nproc, tmp_path, token_cache), strict=True):
        assert done.returncode == 0, f"{name}:\n{done.stdout[-2000:]}{done.stderr[-4000:]}"
        result = json.loads((tmp_path / "runs" / f"own-{name}" / "result.json").read_text())
        assert result["outcome"] == "done", name


def run_together_in(runs: list[tuple[str, ...]], nproc: int, cwd: Path, cache: Path) -> list:
    """One-process runs one after another in one interpreter (most of a run is importing the
    training stack); several-process runs as separate CLI processes started together."""
    trains = [("train", *args) for args in runs]
    if nproc == 1:
        return run_in_one_process(trains, cwd=cwd, cache=cache, timeout=1800)
    return run_together(trains, cwd=cwd, cache=cache, timeout=900)
