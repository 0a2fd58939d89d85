"""Finished runs of every task type, made in-process in a second (compile a tiny recipe, keep
its random weights as the best and last checkpoint), for the export, bundle and serve tests.

The weights are random, not trained: these tests check that an exported or served model gives
the same outputs as the run it came from, which random weights show as well as trained ones
(with fewer seconds). Heads are perturbed away from their zero-ish init so outputs differ
between classes and tokens.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

from task_rows import pair_rows, span_rows, tag_rows  # noqa: E402
from training_support import TINY_ENCODER, synthetic_rows, write_jsonl  # noqa: E402

DATA = "data: {{train: {{path: train.jsonl}}, dev: {{path: dev.jsonl}}, max_length: {n}{extra}}}\n"
TRAIN = "train: {epochs: 1, batch_size: 8, lr: 1.0e-3, seed: 3}\n"
TAGS = "[O, B-person, I-person, B-location, I-location]"
SMALL = ("  enc: {{type: {kind}, tokenizer: minilm-l6, embedding_dim: 16, dropout: 0.0}}\n")

KINDS: dict[str, tuple[str, object]] = {
    "classify": (DATA.format(n=16, extra="") + "encoders:\n" + TINY_ENCODER
                 + "heads:\n  cls: {type: classify, input: enc, labels: [neg, pos]}\n",
                 synthetic_rows),
    "classify-cls": (DATA.format(n=16, extra="") + "encoders:\n"
                     + TINY_ENCODER.replace("pooling: mean", "pooling: cls")
                     + "heads:\n  cls: {type: classify, input: enc, labels: [neg, pos]}\n",
                     synthetic_rows),
    "match-cross": (DATA.format(n=24, extra=", fields: {text: text_a, text_pair: text_b}")
                    + "encoders:\n" + TINY_ENCODER
                    + "heads:\n  nli: {type: match, input: enc, mode: cross,"
                      " labels: [contradiction, entailment]}\n", pair_rows),
    "match-siamese": (DATA.format(n=24, extra=", fields: {text: text_a, text_pair: text_b}")
                      + "encoders:\n" + TINY_ENCODER
                      + "heads:\n  nli: {type: match, input: enc, mode: siamese,"
                        " labels: [contradiction, entailment]}\n", pair_rows),
    "tag": (DATA.format(n=24, extra="") + "encoders:\n" + TINY_ENCODER
            + f"heads:\n  ner: {{type: tag, input: enc, labels: {TAGS}}}\n", tag_rows),
    "tag-crf": (DATA.format(n=24, extra="") + "encoders:\n" + TINY_ENCODER
                + f"heads:\n  ner: {{type: tag, input: enc, crf: true, labels: {TAGS}}}\n",
                tag_rows),
    "span": (DATA.format(n=32, extra="") + "encoders:\n" + TINY_ENCODER
             + "heads:\n  qa: {type: span, input: enc, doc_stride: 8, max_answer_length: 4}\n",
             span_rows),
    "textcnn": (DATA.format(n=16, extra="") + "encoders:\n" + SMALL.format(kind="textcnn")
                + "heads:\n  cls: {type: classify, input: enc, labels: [neg, pos]}\n",
                synthetic_rows),
    "bilstm": (DATA.format(n=16, extra="") + "encoders:\n" + SMALL.format(kind="bilstm")
               + "heads:\n  cls: {type: classify, input: enc, labels: [neg, pos]}\n",
               synthetic_rows),
    "classify-pooler": (DATA.format(n=16, extra="") + "encoders:\n"
                        + TINY_ENCODER.replace("pooling: mean", "pooling: pooler")
                        + "heads:\n  cls: {type: classify, input: enc, labels: [neg, pos]}\n",
                        synthetic_rows),
    "match-pooler": (DATA.format(n=24, extra=", fields: {text: text_a, text_pair: text_b}")
                     + "encoders:\n" + TINY_ENCODER.replace("pooling: mean", "pooling: pooler")
                     + "heads:\n  nli: {type: match, input: enc, mode: cross,"
                       " labels: [contradiction, entailment, neutral]}\n", pair_rows),
    "classify-roberta": (DATA.format(n=16, extra="") + "encoders:\n"
                         + TINY_ENCODER.replace("pooling: mean", "pooling: pooler")
                         .replace("model_type: bert", "model_type: roberta")
                         + "heads:\n  cls: {type: classify, input: enc, labels: [neg, pos]}\n",
                         synthetic_rows),
    "classify-albert": (DATA.format(n=16, extra="") + "encoders:\n"
                        + TINY_ENCODER.replace("pooling: mean", "pooling: pooler")
                        .replace("model_type: bert", "model_type: albert, embedding_size: 16")
                        + "heads:\n  cls: {type: classify, input: enc, labels: [neg, pos]}\n",
                        synthetic_rows),
}
"""Kind → (recipe body after `name:`, row maker for its data). The `-pooler`, `-roberta` and
`-albert` kinds pool with the model's own pooler (what `export --format hf` needs for
classification; roberta and albert map onto Hugging Face's other two head layouts)."""

TWO_DATASETS = ("data:\n  max_length: 24\n  sets:\n"
                "    sent: {train: {path: sent-train.jsonl}, dev: {path: sent-dev.jsonl}}\n"
                "    ner: {train: {path: ner-train.jsonl}, dev: {path: ner-dev.jsonl}}\n"
                "encoders:\n" + TINY_ENCODER +
                "heads:\n"
                "  sentiment: {type: classify, input: enc, data: sent, labels: [neg, pos]}\n"
                f"  entities: {{type: tag, input: enc, data: ner, labels: {TAGS}}}\n")


def _save_checkpoint(run: Path, model: torch.nn.Module) -> None:
    from safetensors.torch import save_model

    step = run / "checkpoints" / "step-0000001-test"
    best = run / "checkpoints" / "best"
    for folder in (step, best):
        folder.mkdir(parents=True, exist_ok=True)
        save_model(model, str(folder / "model.safetensors"))
        (folder / "state.json").write_text(json.dumps({"step": 1}))
    (run / "checkpoints" / "last").write_text(step.name + "\n")


def make_run(root: Path, kind: str, seed: int = 0) -> Path:
    """A run directory of `kind` (a key of KINDS, or 'two-datasets') with random weights and
    its train/dev data beside the recipe; returns the run directory."""
    from etdecl.compile.graph import compile_recipe
    from etdecl.recipe.validate import load_recipe

    run = root / f"run-{kind}"
    run.mkdir(parents=True)
    if kind == "two-datasets":
        body = TWO_DATASETS
        for name, rows in (("sent", synthetic_rows), ("ner", tag_rows)):
            write_jsonl(run / f"{name}-train.jsonl", rows(32, 1))
            write_jsonl(run / f"{name}-dev.jsonl", rows(24, 2))
    else:
        body, rows = KINDS[kind]
        write_jsonl(run / "train.jsonl", rows(32, 1))
        write_jsonl(run / "dev.jsonl", rows(24, 2))
    (run / "recipe.yaml").write_text(f"etdecl: 1\nname: export-{kind}\n" + body + TRAIN)
    compiled = compile_recipe(load_recipe(run / "recipe.yaml", check_data=False))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in compiled.model.heads.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.5)
    _save_checkpoint(run, compiled.model)
    return run


def same_predictions(a: object, b: object, tol: float = 1e-5) -> bool:
    """Equal user-facing predictions: the same labels, tags and answers; probabilities and
    scores within `tol` (another runtime or build of the same weights rounds differently)."""
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, (int, float)) and isinstance(b, (int, float))
                and abs(a - b) <= tol * max(1.0, abs(a)))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_predictions(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(
            same_predictions(x, y, tol) for x, y in zip(a, b, strict=True))
    return a == b
