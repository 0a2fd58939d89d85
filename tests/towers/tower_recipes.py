"""Tower recipes on a tiny random BERT over the synthetic rows (domains a|b), one per tower
type and option, for the compile, training, export and check tests."""

from __future__ import annotations

from pathlib import Path

from training_support import TINY_ENCODER, synthetic_rows, write_jsonl

HEAD = "heads:\n  cls: {{type: classify, input: {node}, labels: [neg, pos], dropout: 0.0}}\n"
BASE = """\
etdecl: 1
name: tower-{name}
data:
  train: {{path: train.jsonl}}
  dev: {{path: dev.jsonl}}
  fields: {{text: text, label: label, domain: domain}}
  domains: [a, b]
  max_length: 16
encoders:
"""
TRAIN = ("train: {epochs: 1, batch_size: 16, lr: 3.0e-3, warmup: 0.1, eval_every: 10, "
         "log_every: 1, seed: 3}\n")

ADV = "adversarial: {weight: 0.1, schedule: dann, gamma: 10.0, hidden: 16}"
TOWERS: dict[str, tuple[str, str]] = {
    "shared": ("  fs: {type: shared, input: enc}\n", "fs"),
    "private-full": ("  p: {type: private, input: enc, copy: full}\n", "p"),
    "private-top": ("  p: {type: private, input: enc, copy: top, top_layers: 1}\n", "p"),
    "private-small-textcnn": ("  p: {type: private, input: enc, copy: small,\n"
                              "      small: {type: textcnn, widths: [2, 3], channels: 8}}\n",
                              "p"),
    "private-small-bilstm": ("  p: {type: private, input: enc, copy: small,\n"
                             "      small: {type: bilstm, hidden: 8}}\n", "p"),
    "shared-private": ("  s: {type: shared, input: enc}\n"
                       "  p: {type: private, input: enc, copy: top, top_layers: 1}\n"
                       "  ss: {type: shared_private, shared: s, private: p}\n", "ss"),
    "shared-private-adv-orth": ("  s: {type: shared, input: enc}\n"
                                "  p: {type: private, input: enc, copy: top, top_layers: 1}\n"
                                f"  ss: {{type: shared_private, shared: s, private: p, {ADV},\n"
                                "       orthogonality: 0.001}\n", "ss"),
    "drss": ("  s: {type: shared, input: enc}\n"
             "  d: {type: drss, shared: s, width: 8, weight: 0.01}\n", "d"),
    "drss-adv": ("  s: {type: shared, input: enc}\n"
                 f"  d: {{type: drss, shared: s, width: 8, weight: 0.01, {ADV}}}\n", "d"),
}
AUX_PARTS = {
    "shared-private-adv-orth": ["loss.ss.adversarial", "loss.ss.orthogonality"],
    "drss": ["loss.d.relations"],
    "drss-adv": ["loss.d.relations", "loss.d.adversarial"],
}


def tower_recipe(name: str, towers: str | None = None, node: str | None = None) -> str:
    block, default_node = TOWERS.get(name, ("", ""))
    return (BASE.format(name=name) + TINY_ENCODER + "towers:\n" + (towers or block)
            + HEAD.format(node=node or default_node) + TRAIN)


def write_tower_recipe(folder: Path, name: str, text: str | None = None, n_train: int = 320,
                       n_dev: int = 64) -> Path:
    write_jsonl(folder / "train.jsonl", synthetic_rows(n_train, seed=1))
    write_jsonl(folder / "dev.jsonl", synthetic_rows(n_dev, seed=2))
    path = folder / f"{name}.yaml"
    path.write_text(text or tower_recipe(name))
    return path
