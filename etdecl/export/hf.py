"""`export --format hf`: a run as the folder Hugging Face's Auto classes load, so programs that
know transformers and nothing of etdecl can use it (`from_pretrained`, `pipeline`).

Only graphs that ARE one transformers model can be written this way: one `hf` encoder read by
one head that has a Hugging Face counterpart computing the same function:
- classify, match (cross) → *ForSequenceClassification, whose heads read the model's own
  pooler (BERT-like) or a dense + tanh over the first token (RoBERTa-like): the same as our
  linear head over `pooling: pooler`;
- tag without a CRF → *ForTokenClassification; span → *ForQuestionAnswering.
Everything else is refused, located at the recipe key that makes it impossible.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..engine.inference import LoadedRun
from ..recipe.errors import Location, Problem, RecipeError

BERT_LIKE = ("bert", "albert")
"""*ForSequenceClassification = the base model's pooler + dropout + `classifier`."""
ROBERTA_LIKE = ("roberta", "xlm-roberta", "camembert", "mpnet")
"""*ForSequenceClassification = `classifier.dense` + tanh over the first token + dropout +
`classifier.out_proj`; the base model has no pooler, so our pooler's dense moves there."""

AUTO_CLASS = {"classify": "AutoModelForSequenceClassification",
              "match": "AutoModelForSequenceClassification",
              "tag": "AutoModelForTokenClassification",
              "span": "AutoModelForQuestionAnswering"}
HEAD_WEIGHTS = {"AutoModelForSequenceClassification": "classifier",
                "AutoModelForTokenClassification": "classifier",
                "AutoModelForQuestionAnswering": "qa_outputs"}
"""Where our head's linear layer goes (RoBERTa-like classification: `classifier.out_proj`)."""

KEEPS = "export --format bundle or onnx keeps this graph as it is"


@dataclass
class _Target:
    encoder: str
    head: str
    kind: str
    model_type: str
    auto: str


def _at(run: LoadedRun, *path: str) -> tuple[Location | None, str]:
    """The recipe position of `path`, else of its nearest written parent (defaults have none)."""
    for n in range(len(path), 0, -1):
        loc = run.loaded.where(*path[:n])
        if loc is not None:
            return loc, ".".join(path)
    return None, ".".join(path)


def _problem(run: LoadedRun, path: tuple[str, ...], message: str, hint: str = KEEPS) -> Problem:
    loc, dotted = _at(run, *path)
    return Problem(f"cannot export in the Hugging Face layout: {message}", loc=loc, path=dotted,
                   hint=hint)


def _type_key(run: LoadedRun, encoder: str) -> tuple[str, ...]:
    cfg = run.loaded.recipe.encoders[encoder]
    if cfg.model is not None:
        return ("encoders", encoder, "model")
    return ("encoders", encoder, "config", "model_type")


def _graph_problems(run: LoadedRun) -> tuple[list[Problem], _Target | None]:
    """Problems of the graph's shape (recipe only); the export target when there are none."""
    recipe = run.loaded.recipe
    heads, encoders = list(recipe.heads), list(recipe.encoders)
    if recipe.towers:
        return [_problem(run, ("towers", next(iter(recipe.towers))), f"a Hugging Face model "
                         f"is one encoder with one head, and this graph has towers "
                         f"({', '.join(recipe.towers)})",
                         "export --format bundle keeps this graph as it is")], None
    if len(heads) != 1 or len(encoders) != 1:
        what = (f"{len(heads)} heads ({', '.join(heads)})" if len(heads) != 1
                else f"{len(encoders)} encoders ({', '.join(encoders)})")
        key = "heads" if len(heads) != 1 else "encoders"
        return [_problem(run, (key,), f"a Hugging Face model is one encoder with one head, and "
                         f"this graph has {what}", KEEPS)], None
    head, enc = heads[0], encoders[0]
    hcfg, ecfg = recipe.heads[head], recipe.encoders[enc]
    problems: list[Problem] = []
    if ecfg.type != "hf":
        problems.append(_problem(run, ("encoders", enc, "type"), f"a {ecfg.type} encoder has no "
                                 "transformers model class"))
    if len(hcfg.inputs()) != 1:
        problems.append(_problem(run, ("heads", head, "input"), "the head reads several "
                                 "encoder outputs concatenated, which no transformers head does"))
    if getattr(hcfg, "crf", False):
        problems.append(_problem(run, ("heads", head, "crf"), "transformers' token "
                                 "classification has no CRF (its tags would be decoded without "
                                 "the transitions)"))
    if getattr(hcfg, "mode", None) == "siamese":
        problems.append(_problem(run, ("heads", head, "mode"), "a siamese match encodes each "
                                 "text alone and compares them; transformers' sequence "
                                 "classification reads the pair in one pass"))
    if ecfg.type != "hf":
        return problems, None
    siamese = getattr(hcfg, "mode", None) == "siamese"
    if hcfg.type in ("classify", "match") and ecfg.pooling != "pooler" and not siamese:
        problems.append(_problem(
            run, ("encoders", enc, "pooling"), f"transformers' sequence classification reads "
            f"the model's own pooler, and this encoder pools by {ecfg.pooling}",
            f"train with pooling: pooler to export this layout; {KEEPS}"))
    if ecfg.attention.type != "dense":
        problems.append(_problem(run, ("encoders", enc, "attention"), f"transformers would "
                                 f"load the model with dense attention, so its predictions "
                                 f"would differ from this {ecfg.attention.type} encoder's"))
    backbone = run.compiled.model.encoders[enc].backbone
    model_type = backbone.config.model_type
    from transformers import CONFIG_MAPPING

    if ecfg.trust_remote_code and model_type not in CONFIG_MAPPING:
        problems.append(_problem(run, ("encoders", enc, "trust_remote_code"), f"model type "
                                 f"'{model_type}' comes with its own code, not transformers', "
                                 "so the Auto classes would need trust_remote_code"))
    auto = AUTO_CLASS[hcfg.type]
    supported = _supported(auto)
    if hcfg.type in ("classify", "match"):
        supported = [t for t in (*BERT_LIKE, *ROBERTA_LIKE) if t in supported]
    if model_type not in supported and not (ecfg.trust_remote_code
                                            and model_type not in CONFIG_MAPPING):
        more = ", …" if len(supported) > 12 else ""
        problems.append(_problem(run, _type_key(run, enc), f"{auto} has no '{model_type}' model "
                                 f"whose head matches a {hcfg.type} head (supported: "
                                 f"{', '.join(supported[:12])}{more})"))
    return problems, _Target(enc, head, hcfg.type, model_type, auto)


def _supported(auto: str) -> list[str]:
    from transformers.models.auto import modeling_auto as m

    names = {
        "AutoModelForSequenceClassification": m.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
        "AutoModelForTokenClassification": m.MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES,
        "AutoModelForQuestionAnswering": m.MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES,
    }
    return sorted(names[auto])


def _hf_config(run: LoadedRun, t: _Target):
    """The encoder's config with the head's labels (what `from_pretrained` reads), and where it
    came from."""
    config = copy.deepcopy(run.compiled.model.encoders[t.encoder].backbone.config)
    labels = getattr(run.loaded.recipe.heads[t.head], "labels", None)
    if labels is not None:
        config.id2label = dict(enumerate(labels))
        config.label2id = {lab: i for i, lab in enumerate(labels)}
    else:
        config.num_labels = 2  # start and end logits
    config.etdecl_recipe = run.loaded.recipe.name
    config.etdecl_fingerprint = run.loaded.fingerprint
    return config


def _build(auto: str, config: Any, device: str = "cpu") -> torch.nn.Module:
    import transformers

    with torch.device(device):
        return getattr(transformers, auto).from_config(config)


def _hf_state(run: LoadedRun, t: _Target, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Our encoder's and head's weights under the Hugging Face model's parameter names."""
    graph = run.compiled.model
    prefix = model.base_model_prefix
    target = model.state_dict()
    state: dict[str, torch.Tensor] = {}
    for k, v in graph.encoders[t.encoder].backbone.state_dict().items():
        state[f"{prefix}.{k}"] = v
    head = HEAD_WEIGHTS[t.auto]
    proj = graph.heads[t.head].proj
    roberta_like = t.auto.endswith("SequenceClassification") and t.model_type in ROBERTA_LIKE
    if roberta_like:
        for what in ("weight", "bias"):
            state[f"{head}.dense.{what}"] = state.pop(f"{prefix}.pooler.dense.{what}")
        head = f"{head}.out_proj"
    state[f"{head}.weight"], state[f"{head}.bias"] = proj.weight, proj.bias
    # a pooler the HF model lacks is unused by this head (token heads read token states)
    return {k: v for k, v in state.items()
            if k in target or not k.startswith(f"{prefix}.pooler.")}


def _weight_problems(run: LoadedRun, t: _Target) -> list[Problem]:
    """The mapped weights must be exactly the HF model's (names and shapes), else refuse."""
    model = _build(t.auto, _hf_config(run, t), "meta")
    state, target = _hf_state(run, t, model), model.state_dict()
    missing = sorted(set(target) - set(state))
    extra = sorted(set(state) - set(target))
    shapes = sorted(k for k in set(state) & set(target) if state[k].shape != target[k].shape)
    if not (missing or extra or shapes):
        return []
    bad = (missing or extra or shapes)[0]
    return [_problem(run, _type_key(run, t.encoder), f"the '{t.model_type}' encoder's weights "
                     f"do not map onto {type(model).__name__}'s ({len(missing)} missing, "
                     f"{len(extra)} unexpected, {len(shapes)} of another shape, e.g. {bad})")]


def hf_refusal(run: LoadedRun) -> RecipeError | None:
    """None when the run's graph exports to the Hugging Face layout, else every reason why,
    each located at the recipe key that makes it impossible."""
    problems, target = _graph_problems(run)
    if not problems and target is not None:
        problems = _weight_problems(run, target)
    return RecipeError(problems) if problems else None


def _fresh_output(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder; choose a new output")


def _truncate_as_trained(path: Path, max_length: int) -> None:
    """The tokenizer truncates where the run did (`data.max_length`), so a pipeline called with
    `truncation=True` sees what etdecl sees, not the model's 512 positions."""
    config = json.loads(path.read_text())
    config["model_max_length"] = max_length
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def export_hf(run: LoadedRun, out: Path) -> Path:
    """Write `out` as a Hugging Face model folder (config.json with id2label, model.safetensors
    in transformers' parameter names, the tokenizer's files) that the Auto class of the head's
    task loads without trust_remote_code. Raises hf_refusal's RecipeError for other graphs.
    Written beside `out` and renamed at the end, so `out` is never half-written."""
    refusal = hf_refusal(run)
    if refusal is not None:
        raise refusal
    out = Path(out)
    _fresh_output(out)
    _, t = _graph_problems(run)
    assert t is not None
    config = _hf_config(run, t)
    # built without memory, then given the run's own tensors: no random init, no second copy
    model = _build(t.auto, config, "meta")
    model.load_state_dict(_hf_state(run, t, model), strict=True, assign=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(str(tmp), safe_serialization=True)
        run.compiled.tokenizers[run.compiled.tokenizer_of[t.encoder]].save_pretrained(str(tmp))
        _truncate_as_trained(tmp / "tokenizer_config.json", run.loaded.recipe.data.max_length)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
