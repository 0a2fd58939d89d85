"""Tiny teacher and student recipes: 2-layer random BERTs reading MiniLM's word pieces, on
synthetic sentiment rows (tests/training/training_support.py)."""

from __future__ import annotations

from pathlib import Path

from training_support import read_metrics, run_cli, synthetic_rows, write_jsonl


def bert(width: int, heads: int = 4, layers: int = 2) -> str:
    return (f"{{model_type: bert, hidden_size: {width}, num_hidden_layers: {layers}, "
            f"num_attention_heads: {heads}, intermediate_size: {2 * width}, vocab_size: 30522, "
            "max_position_embeddings: 64, hidden_dropout_prob: 0.0, "
            "attention_probs_dropout_prob: 0.0}")


def write_data(folder: Path, n_train: int = 64, n_dev: int = 16) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "train.jsonl", synthetic_rows(n_train, seed=1))
    write_jsonl(folder / "dev.jsonl", synthetic_rows(n_dev, seed=2))


BASE = """\
etdecl: 1
name: {name}
data:
  train: {{path: train.jsonl}}
  dev: {{path: dev.jsonl}}
  fields: {{text: text, label: label}}
  max_length: 16
encoders:
  enc:
    type: hf
    tokenizer: minilm-l6
    pooling: cls
    config: {config}
heads:
  cls: {{type: classify, input: enc, labels: [neg, pos], dropout: 0.0}}
train:
  epochs: {epochs}
  batch_size: 16
  lr: 3.0e-3
  warmup: 0.1
  eval_every: 100
  log_every: 1
  seed: 3
{extra}"""


def teacher_recipe(folder: Path, epochs: int = 3) -> Path:
    write_data(folder)
    path = folder / "teacher.yaml"
    path.write_text(BASE.format(name="teacher", config=bert(32), epochs=epochs, extra=""))
    return path


def train_teacher(folder: Path) -> Path:
    recipe = teacher_recipe(folder)
    run = folder / "teacher-run"
    proc = run_cli("train", str(recipe), "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run


def student_recipe(folder: Path, teacher: Path | str, objectives: str, width: int = 16,
                   epochs: int = 2, method: str = "", plan: str = "",
                   name: str = "student", heads: int = 4, key: str = "source") -> Path:
    write_data(folder)
    extra = (f"teachers:\n  t:\n    {key}: {teacher}\n    objectives:\n"
             + "".join(f"      {line}\n" for line in objectives.strip().splitlines())
             + f"method: {{type: distill{method}}}\n" + plan)
    path = folder / f"{name}.yaml"
    path.write_text(BASE.format(name=name, config=bert(width, heads), epochs=epochs,
                                extra=extra))
    return path


def train(recipe: Path, run: Path, *args: str) -> list[dict]:
    proc = run_cli("train", str(recipe), "--run-dir", str(run), *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [m for m in read_metrics(run) if m["split"] == "train"]
