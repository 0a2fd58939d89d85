"""Tiny data of every task type with a `domain` field, and a recipe of one head per task."""

from __future__ import annotations

from pathlib import Path

from task_rows import pair_rows, span_rows, tag_rows
from training_support import TINY_ENCODER, synthetic_rows, write_jsonl

ROWS = {"classify": synthetic_rows, "match": pair_rows, "tag": tag_rows, "span": span_rows}

HEADS = {
    "classify": "{type: classify, input: enc, labels: [neg, pos], data: classify}",
    "match": "{type: match, input: enc, labels: [contradiction, entailment], data: match}",
    "tag": "{type: tag, input: enc, labels: [O, B-person, I-person, B-location, I-location],"
           " data: tag}",
    "span": "{type: span, input: enc, doc_stride: 8, max_answer_length: 4, data: span}",
}
FIELDS = {"match": ", text: text_a, text_pair: text_b"}


def with_domains(rows: list[dict], names: list[str]) -> list[dict]:
    return [dict(r, domain=names[i % len(names)]) for i, r in enumerate(rows)]


def write_task_data(root: Path, kind: str, names: list[str], n_train: int = 96,
                    n_dev: int = 32) -> None:
    write_jsonl(root / f"{kind}-train.jsonl", with_domains(ROWS[kind](n_train, 1), names))
    write_jsonl(root / f"{kind}-dev.jsonl", with_domains(ROWS[kind](n_dev, 2), names))


def multitask_recipe(root: Path, kinds: list[str], names: list[str], data_extra: str = "",
                     train_extra: str = "", max_steps: int = 6) -> Path:
    """A recipe with one dataset and head per task kind, every row with a domain."""
    sets = "".join(
        f"    {k}: {{train: {{path: {k}-train.jsonl}}, dev: {{path: {k}-dev.jsonl}},\n"
        f"          fields: {{domain: domain{FIELDS.get(k, '')}}}}}\n" for k in kinds)
    heads = "".join(f"  {k}: {HEADS[k]}\n" for k in kinds)
    for k in kinds:
        write_task_data(root, k, names)
    path = root / "r.yaml"
    path.write_text(
        "etdecl: 1\nname: domains\ndata:\n  max_length: 32\n" + data_extra + "  sets:\n" + sets
        + "encoders:\n" + TINY_ENCODER + "heads:\n" + heads
        + f"train: {{max_steps: {max_steps}, batch_size: 16, lr: 3.0e-3, log_every: 1, "
        f"eval_every: 3, seed: 3{train_extra}}}\n")
    return path
