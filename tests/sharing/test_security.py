"""A recipe received from someone else can never run code on the machine that validates or
trains it: no YAML tags, only registered `type:` names, packages located but never imported,
weights loaded from safetensors or weights-only, remote code off unless the recipe opts in
(with a warning), and paths that resolve against the recipe file."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sharing_support import run_together, tiny_recipe

from etdecl.cli import app
from etdecl.data.sources import locate
from etdecl.recipe.errors import RecipeError
from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]
BODY = """\
data:
  train: {path: train.jsonl}
encoders:
  plm: {type: hf, model: minilm-l6}
heads:
  cls: {type: classify, input: plm, labels: [neg, pos]}
"""


def recipe_text(head: str) -> str:
    return f"etdecl: 1\n{head}\n{BODY}"


# ── YAML tags ────────────────────────────────────────────────────────────────────────────────

TAGGED = {
    "apply-on-sequence": 'name: !!python/object/apply:os.system ["{cmd}"]',
    "new-on-mapping": 'name: !!python/object/new:os.system {{args: ["{cmd}"]}}',
    "object-on-mapping": "name: !!python/object:argparse.Namespace {{a: 1}}",
    "name-on-scalar": "name: !!python/name:os.system",
    "module-on-scalar": "name: !!python/module:os",
    "verbatim": 'name: !<tag:yaml.org,2002:python/object/apply:os.system> ["{cmd}"]',
    "tag-directive": '%TAG !p! tag:yaml.org,2002:python/object/apply:\n---\nname: !p!os.system'
                     ' ["{cmd}"]',
    "custom-scalar": "name: !custom value",
    "custom-mapping": "name: !Recipe {{a: 1}}",
    "custom-sequence": "name: !list [a, b]",
    "non-specific": "name: ! plain",
    "core-int-on-string": 'name: !!int "3"',
    "core-str": "name: !!str run",
    "core-map": "name: !!map {{a: 1}}",
    "binary": "name: !!binary aGVsbG8=",
    "set": "name: !!set {{a, b}}",
    "timestamp": "name: !!timestamp 2024-01-01",
    "on-a-key": "!!python/name:os.system : 1\nname: x",
}


@pytest.mark.parametrize("key", list(TAGGED), ids=list(TAGGED))
def test_yaml_tags_are_refused_located_and_nothing_runs(tmp_path: Path, key: str) -> None:
    marker = tmp_path / "owned"
    head = TAGGED[key].format(cmd=f"touch {marker}")
    text = head + "\n" + recipe_text("").removeprefix("etdecl: 1\n\n")
    text = ("etdecl: 1\n" + text) if not head.startswith("%TAG") else \
        head.replace("---\n", "---\netdecl: 1\n") + "\n" + BODY
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    problem = info.value.problems[0]
    assert "YAML tags are not allowed" in problem.message, problem.render()
    tag_line = next(i for i, ln in enumerate(text.splitlines(), 1) if "!" in ln and "%" not in ln)
    assert problem.loc.line == tag_line and problem.loc.col >= 1
    assert not marker.exists()


def test_a_tag_in_an_override_is_refused(runner, tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    result = runner.invoke(app, ["validate", "tests/assets/valid/base.yaml", "--set",
                                 f"name=!!python/object/apply:os.system ['touch {marker}']"])
    assert result.exit_code == 1 and "YAML tags are not allowed" in result.stderr
    assert not marker.exists()


def test_tags_refused_by_the_cli_before_training_starts(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(recipe_text(f'name: !!python/object/apply:os.system ["touch {marker}"]'))
    for verb in ("validate", "show", "plan", "train", "migrate", "diff"):
        args = [verb, str(recipe)] + ([str(recipe)] if verb == "diff" else [])
        done = subprocess.run([sys.executable, "-m", "etdecl.cli", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and "YAML tags are not allowed" in done.stderr, verb
        assert "Traceback" not in done.stderr
    assert not marker.exists()


# ── type: names are registered components, never import paths ───────────────────────────────


@pytest.mark.parametrize(("path", "value", "kind"), [
    ("encoders.plm.type", "torch.nn.Linear", "encoder"),
    ("encoders.plm.type", "os.system", "encoder"),
    ("encoders.plm.type", "transformers.AutoModel", "encoder"),
    ("heads.cls.type", "builtins.eval", "head"),
    ("heads.cls.type", "etdecl.components.heads.ClassifyHead", "head"),
])
def test_import_paths_are_unknown_types(path: str, value: str, kind: str) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe("tests/assets/valid/base.yaml", [f"{path}={value}"], check_data=False)
    [problem] = info.value.problems
    assert problem.message == f"unknown {kind} type '{value}'"
    assert problem.expected.startswith("one of ")


def test_model_names_that_look_like_modules_are_unknown_aliases() -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe("tests/assets/valid/base.yaml", ["encoders.plm.model=os.system"],
                    check_data=False)
    assert "unknown model alias 'os.system'" in info.value.problems[0].message


def test_a_data_package_is_located_never_imported(tmp_path: Path) -> None:
    """`package: evil.data` used to import `evil` (find_spec imports parents of dotted names)."""
    marker = tmp_path / "owned"
    (tmp_path / "evilpkg" / "data").mkdir(parents=True)
    (tmp_path / "evilpkg" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    (tmp_path / "evilpkg" / "data" / "rows.jsonl").write_text('{"text": "a", "label": "neg"}\n')
    recipe = tmp_path / "r.yaml"
    recipe.write_text(recipe_text("name: evil").replace(
        "{path: train.jsonl}", "{package: evilpkg.data, resource: rows.jsonl}"))
    done = subprocess.run([sys.executable, "-m", "etdecl.cli", "validate", "r.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)  # cwd on path
    assert done.returncode == 0, done.stderr
    assert not marker.exists()


# ── files: sizes, devices, alias bombs ───────────────────────────────────────────────────────


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["etdecl: 1", "name: lol", "a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, this in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{this}: &{this} [{', '.join(['*' + prev] * 10)}]")
    path = tmp_path / "lol.yaml"
    path.write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    with pytest.raises(RecipeError) as info:
        load_recipe(path, check_data=False)
    assert time.perf_counter() - start < 5
    assert "expands to more than" in info.value.problems[0].message


def test_an_override_that_contains_itself_is_refused() -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe("tests/assets/valid/base.yaml", ["heads.cls.labels=&a [*a]"])
    assert "contains itself" in info.value.problems[0].message


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/stdin", "/proc/self/environ"])
def test_extends_a_device_or_stream_does_not_hang(tmp_path: Path, target: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(recipe_text(f"name: x\nextends: {target}"))
    with pytest.raises(RecipeError) as info:
        load_recipe(path, check_data=False)
    assert info.value.problems[0].loc is not None


def test_a_huge_recipe_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with open(path, "wb") as fh:
        fh.truncate(64 * 1024 * 1024)  # sparse: costs no disk
    with pytest.raises(RecipeError, match="too large"):
        load_recipe(path)


# ── paths resolve against the recipe file ────────────────────────────────────────────────────


def test_extends_and_data_paths_resolve_against_the_file_that_writes_them(
        tmp_path: Path, monkeypatch) -> None:
    shelf = tmp_path / "shelf"
    (shelf / "base").mkdir(parents=True)
    (shelf / "data").mkdir()
    (shelf / "mine" / "deep").mkdir(parents=True)
    (shelf / "data" / "train.jsonl").write_text('{"text": "a", "label": "neg"}\n')
    (shelf / "data" / "dev.jsonl").write_text('{"text": "b", "label": "pos"}\n')
    elsewhere = tmp_path / "abs" / "parent.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text("etdecl: 1\ntrain: {epochs: 7}\n")
    (shelf / "base" / "_common.yaml").write_text(  # its data path is relative to base/
        "data:\n  train: {path: ../data/train.jsonl}\n"
        "encoders:\n  plm: {type: hf, model: minilm-l6}\n")
    recipe = shelf / "mine" / "deep" / "r.yaml"
    recipe.write_text(f"etdecl: 1\nname: r\nextends: [../../base/_common.yaml, {elsewhere}]\n"
                      "data:\n  dev: {path: ../../data/dev.jsonl}\n"
                      "heads:\n  cls: {type: classify, input: plm, labels: [neg, pos]}\n")
    monkeypatch.chdir(tmp_path / "abs")  # neither the recipe's folder nor any parent's
    loaded = load_recipe(recipe)  # data checks read both files: they are found
    assert loaded.recipe.train.epochs == 7
    assert locate(loaded, "train")[0].resolve() == shelf / "data" / "train.jsonl"
    assert locate(loaded, "dev")[0].resolve() == shelf / "data" / "dev.jsonl"


# ── weights: safetensors or weights-only; remote code off unless asked for ───────────────────


class Payload:
    """Unpickling this runs code: it writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('owned')",))


TINY_BERT = {"model_type": "bert", "architectures": ["BertModel"], "hidden_size": 32,
             "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
             "vocab_size": 30522, "max_position_embeddings": 64, "type_vocab_size": 2}
EVIL_CONFIG = """\
open({marker!r}, "w").write("owned")
from transformers import PretrainedConfig


class EvilConfig(PretrainedConfig):
    model_type = "evil"
"""


def _model_recipe(folder: Path, model: str, extra: str = "") -> Path:
    path = tiny_recipe(folder, n_train=64, n_dev=16, name=f"{model}.yaml")
    text = path.read_text()
    start = text.index("  enc:\n")
    end = text.index("\nheads:") + 1
    text = text[:start] + (f"  enc:\n    type: hf\n    model: ./{model}\n    tokenizer: minilm-l6"
                           f"\n    pooling: mean\n{extra}") + text[end:]
    path.write_text(text)
    return path


def test_pickled_weights_trust_remote_code_and_weights_only(tmp_path: Path, token_cache) -> None:
    """Three training runs at once (most of each is start-up):
    1. a model folder holding only a pickle `pytorch_model.bin` whose unpickling runs code;
    2. a model folder whose config asks for its own Python code, recipe silent (off);
    3. the same with `trust_remote_code: true`: a warning, and the code runs as asked."""
    import torch

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps(TINY_BERT))
    torch.save({"embeddings.word_embeddings.weight": Payload(tmp_path / "pickle-ran")},
               pickled / "pytorch_model.bin")
    assert not (tmp_path / "pickle-ran").exists()
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "config.json").write_text(json.dumps({
        "model_type": "evil", "auto_map": {"AutoConfig": "configuration_evil.EvilConfig",
                                           "AutoModel": "configuration_evil.EvilConfig"}}))
    (remote / "configuration_evil.py").write_text(
        EVIL_CONFIG.format(marker=str(tmp_path / "remote-ran")))
    runs = [
        ("train", str(_model_recipe(tmp_path, "pickled")), "--run-dir", str(tmp_path / "r1")),
        ("train", str(_model_recipe(tmp_path, "remote")), "--run-dir", str(tmp_path / "r2")),
        ("train", str(_model_recipe(tmp_path, "remote")), "--run-dir", str(tmp_path / "r3"),
         "--set", "encoders.enc.trust_remote_code=true"),
    ]
    pickle_run, remote_off, remote_on = run_together(runs, cwd=tmp_path, cache=token_cache)
    # 1: refused by the weights-only unpickler; the payload never ran
    assert pickle_run.returncode != 0
    assert "weights" in pickle_run.stderr.lower(), pickle_run.stderr[-2000:]
    assert not (tmp_path / "pickle-ran").exists()
    # 2: remote code is off: refused, not run, and no warning was due
    assert remote_off.returncode != 0
    assert "trust_remote_code" in remote_off.stderr, remote_off.stderr[-2000:]
    assert "trust_remote_code is on" not in remote_off.stderr
    # 3: the recipe opted in: the warning comes first, then the folder's code runs
    assert "warning: encoders.enc.trust_remote_code: trust_remote_code is on" in \
        remote_on.stderr, remote_on.stderr[-2000:]
    assert (tmp_path / "remote-ran").exists()


def test_trust_remote_code_is_off_by_default_and_validate_warns(runner) -> None:
    loaded = load_recipe("tests/assets/valid/base.yaml", check_data=False)
    assert loaded.recipe.encoders["plm"].trust_remote_code is False
    assert not loaded.warnings
    result = runner.invoke(app, ["validate", "tests/assets/valid/base.yaml", "--set",
                                 "encoders.plm.trust_remote_code=true"])
    assert result.exit_code == 0  # a warning, not an error: the recipe may mean it
    assert "warning: encoders.plm.trust_remote_code: trust_remote_code is on" in result.stderr


@pytest.fixture(scope="module")
def checkpoint():
    """A real Checkpointer on a world of one gloo process: (checkpointer, folder, model,
    optimizer, scheduler) after one save."""
    import torch
    import torch.distributed as dist
    from colossalai.booster import Booster
    from colossalai.booster.plugin import TorchDDPPlugin
    from torch.optim.lr_scheduler import LambdaLR

    from etdecl.engine.checkpoint import Checkpointer
    from etdecl.engine.cpu_compat import apply_cpu_compat

    apply_cpu_compat()
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    folder = Path(tempfile.mkdtemp(prefix="etdecl-ckpt-"))
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    booster = Booster(plugin=TorchDDPPlugin())
    model, optimizer, _, _, scheduler = booster.boost(
        model, optimizer, lr_scheduler=LambdaLR(optimizer, lambda step: 1.0))
    ckpt = Checkpointer(folder / "run", booster, rank=0)
    saved = ckpt.save(1, model, optimizer, scheduler, {"step": 1})
    yield ckpt, saved, model, optimizer, scheduler
    shutil.rmtree(folder, ignore_errors=True)
    if created:
        dist.destroy_process_group()


@pytest.mark.parametrize("name", ["optimizer.pt", "scheduler.pt", "rng-rank0.pt",
                                  "model.safetensors"])
def test_resuming_from_a_pickle_payload_never_runs_it(checkpoint, tmp_path: Path,
                                                      name: str) -> None:
    """Checkpointer.load, which `--resume` calls, on a checkpoint file replaced by a pickle
    whose unpickling runs code: refused, and the code never ran."""
    import torch

    ckpt, saved, model, optimizer, scheduler = checkpoint
    assert ckpt.load(saved, model, optimizer, scheduler) == {"step": 1}  # loads when intact
    good = (saved / name).read_bytes()
    marker = tmp_path / "ran"
    torch.save({"state": Payload(marker)}, saved / name)
    try:
        live = tmp_path / "live.pt"
        live.write_bytes((saved / name).read_bytes())
        torch.load(live, weights_only=False)  # the payload is live...
        assert marker.exists()
        marker.unlink()
        with pytest.raises(Exception) as info:  # ...and the Checkpointer refuses it
            ckpt.load(saved, model, optimizer, scheduler)
        assert not marker.exists(), info.value
        if name != "model.safetensors":
            assert isinstance(info.value, pickle.UnpicklingError), info.value
    finally:
        (saved / name).write_bytes(good)
