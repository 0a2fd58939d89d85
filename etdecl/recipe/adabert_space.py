"""AdaBERT's search space, without torch: the candidate operations, what each costs, the shape
of a cell, and the derived architecture as data (read from a recipe or a run's
`architecture.yaml`, checked, costed and described).

A cell has two inputs (the outputs of the two cells below it; the first cell reads the
embeddings twice) and `nodes` intermediate nodes. Node j reads inputs 0 and 1 (the cell's
inputs) and 2 .. j + 1 (nodes 0 .. j − 1), one edge per input. While searching, every edge
mixes every operation; a derived architecture keeps, per node, a list of edges
`{input: i, op: name}`. The cell's output is the mean of its nodes, plus its second input,
layer-normalised. `validate` and `plan` read this module; `components/adabert.py` builds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

OPS: tuple[str, ...] = ("cnn3", "cnn5", "cnn7", "dilcnn3", "dilcnn5", "dilcnn7", "maxpool3",
                        "avgpool3", "identity", "zero")
"""Every candidate operation: convolutions of widths 3/5/7, the same dilated by 2, max and
average pooling over 3 positions, identity and zero (the edge is cut)."""

ARCHITECTURE_FILE = "architecture.yaml"
"""Where an AdaBERT search writes its derived architecture, in the run directory."""


class GenotypeError(ValueError):
    """A derived architecture that does not fit the cell: says which node and edge."""

    def __init__(self, message: str, node: int | None = None, edge: int | None = None) -> None:
        super().__init__(message)
        self.node, self.edge = node, edge


@dataclass(frozen=True)
class ConvSpec:
    width: int
    dilation: int


def conv_spec(op: str) -> ConvSpec | None:
    """Width and dilation of a convolution op; None for the others."""
    if op.startswith("dilcnn"):
        return ConvSpec(int(op[6:]), 2)
    if op.startswith("cnn"):
        return ConvSpec(int(op[3:]), 1)
    return None


def op_params(op: str, hidden: int) -> int:
    """Parameters of one op on a `hidden`-wide edge (a convolution: weights and bias)."""
    conv = conv_spec(op)
    return conv.width * hidden * hidden + hidden if conv else 0


def op_macs(op: str, hidden: int) -> int:
    """Multiply-accumulates of one op per token."""
    conv = conv_spec(op)
    if conv:
        return conv.width * hidden * hidden
    return 3 * hidden if op in ("maxpool3", "avgpool3") else 0


def op_cost(op: str, hidden: int) -> float:
    """The efficiency loss's cost of an op: its parameters and per-token MACs, each as a share
    of the costliest op's (cnn7), averaged: 1 for cnn7/dilcnn7, 0 for identity and zero."""
    return 0.5 * (op_params(op, hidden) / op_params("cnn7", hidden)
                  + op_macs(op, hidden) / op_macs("cnn7", hidden))


def edge_inputs(node: int) -> int:
    """How many inputs node `node` (0-based) reads: the cell's two, and every earlier node."""
    return 2 + node


def edges_per_cell(nodes: int) -> int:
    return sum(edge_inputs(j) for j in range(nodes))


def node_offsets(nodes: int) -> list[int]:
    """Index of node j's first edge in the flat list of a cell's edges."""
    out, k = [], 0
    for j in range(nodes):
        out.append(k)
        k += edge_inputs(j)
    return out


Genotype = list[list[tuple[int, str]]]
"""Per node, its kept edges as (input, op)."""


def as_genotype(value: Any) -> Genotype:
    """A derived architecture from recipe data (`[[{input, op}, ...], ...]`) or from pydantic
    edge objects; raises GenotypeError naming the bad node and edge."""
    if not isinstance(value, list) or not value:
        raise GenotypeError("an architecture is a non-empty list of nodes, each a list of "
                            "edges {input, op}")
    out: Genotype = []
    for j, node in enumerate(value):
        if not isinstance(node, list) or not node:
            raise GenotypeError(f"node {j} must be a non-empty list of edges {{input, op}}",
                                node=j)
        edges = []
        for e, edge in enumerate(node):
            get = edge.get if isinstance(edge, dict) else (lambda k, d=None, _e=edge:
                                                              getattr(_e, k, d))
            i, op = get("input"), get("op")
            if not isinstance(i, int) or isinstance(i, bool) or not isinstance(op, str):
                raise GenotypeError(f"node {j}, edge {e}: expected {{input: <int>, op: <name>}}",
                                    node=j, edge=e)
            edges.append((i, op))
        out.append(edges)
    return out


def check_genotype(genotype: Genotype, ops: list[str] | tuple[str, ...] = OPS) -> None:
    """Every edge reads an existing input and uses an op of `ops`; no input twice per node."""
    for j, node in enumerate(genotype):
        seen: set[int] = set()
        for e, (i, op) in enumerate(node):
            if not 0 <= i < edge_inputs(j):
                raise GenotypeError(
                    f"node {j}, edge {e}: input {i} does not exist; node {j} reads inputs "
                    f"0..{edge_inputs(j) - 1} (0, 1: the cell's inputs; 2..: earlier nodes)",
                    node=j, edge=e)
            if op not in ops:
                raise GenotypeError(f"node {j}, edge {e}: op '{op}' is not one of "
                                    f"{', '.join(ops)}", node=j, edge=e)
            if i in seen:
                raise GenotypeError(f"node {j}, edge {e}: input {i} is read twice", node=j,
                                    edge=e)
            seen.add(i)


def genotype_cost(genotype: Genotype, hidden: int) -> tuple[int, int]:
    """(parameters, MACs per token) of one derived cell's ops."""
    params = sum(op_params(op, hidden) for node in genotype for _, op in node)
    macs = sum(op_macs(op, hidden) for node in genotype for _, op in node)
    return params, macs


def input_name(i: int) -> str:
    return ("c[k-2]", "c[k-1]")[i] if i < 2 else f"n{i - 2}"


def describe(genotype: Genotype) -> list[str]:
    """One line per node: `n0 = cnn3(c[k-1]) + maxpool3(c[k-2])`."""
    return [f"n{j} = " + " + ".join(f"{op}({input_name(i)})" for i, op in node)
            for j, node in enumerate(genotype)]


def fragment_text(encoder: str, genotype: Genotype, comment: list[str]) -> str:
    """The derived architecture as a recipe fragment (YAML) for encoder `encoder`."""
    lines = [f"# {c}" for c in comment]
    lines += ["encoders:", f"  {encoder}:", "    architecture:"]
    for j, node in enumerate(genotype):
        edges = ", ".join(f"{{input: {i}, op: {op}}}" for i, op in node)
        lines.append(f"      - [{edges}]  # {describe(genotype)[j]}")
    return "\n".join(lines) + "\n"


def load_architecture(path: Path, encoder: str | None = None) -> Genotype:
    """The architecture of a fragment file: `encoders.<encoder>.architecture` (or the only
    encoder's), or a bare list of nodes. Raises GenotypeError (OSError when unreadable)."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        encs = data.get("encoders")
        if not isinstance(encs, dict) or not encs:
            raise GenotypeError(f"{path}: expected `encoders: {{<name>: {{architecture: "
                                "...}}}}` or a list of nodes")
        if encoder is not None and encoder in encs:
            entry = encs[encoder]
        elif len(encs) == 1:
            entry = next(iter(encs.values()))
        else:
            raise GenotypeError(f"{path}: no architecture for encoder '{encoder}' (it has "
                                f"{', '.join(encs)})")
        data = entry.get("architecture") if isinstance(entry, dict) else None
    return as_genotype(data)
