"""What `etdecl validate` says about teachers, distillation methods, extracted students and
stages, without torch: every problem located at the key to change (file:line:col), from the
teachers' files (runs and bundles written to disk without training) and the models' configs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from teacher_support import (
    bert_config,
    make_bundle,
    make_run,
    minilm_folder,
    problems_of,
    student_recipe,
)

from etdecl.recipe.errors import RecipeError
from etdecl.recipe.layer_maps import layer_map_problems, resolve_layer_map
from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]

RUN = "  t:\n    source: runs/teacher\n    objectives:\n"
"""A teacher (the 4-layer, width-64 run of the `workdir` fixture); objective lines follow."""


def located(text: str, marker: str, nth: int = 0) -> tuple[int, int]:
    """(line, column) of the `^` in `marker` at its nth occurrence in the recipe text."""
    clean = marker.replace("^", "")
    hits = [(i, line.index(clean)) for i, line in enumerate(text.splitlines(), 1)
            if clean in line]
    assert len(hits) > nth, f"{marker!r} not in the recipe"
    line, col = hits[nth]
    return line, col + marker.index("^") + 1


def _runs(*specs: tuple[str, dict]) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        for name, kw in specs:
            make_run(folder / "runs" / name, **kw)
    return setup


def _model_folder(folder: Path, vocab: int) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(bert_config(4, 64, 4, vocab=vocab)))


NO_DOMAIN = ("fields: {text: text, label: label, domain: domain}",
             "fields: {text: text, label: label}")

# (id, student_recipe kwargs, setup, text replacements, message words, marker, nth, severity)
CASES = [
    ("no-source", {"teachers": "  t:\n    objectives: {logits: {}}\n"}, None, [],
     "teacher 't' needs 'source'", "  ^t:", 0, "error"),
    ("source-and-model", {"teachers": "  t:\n    source: runs/teacher\n    model: minilm-l6\n"},
     None, [], "set either 'source' or 'model'", "model: ^minilm-l6", 0, "error"),
    ("model-checkpoint", {"teachers": "  t:\n    model: minilm-l6\n    checkpoint: last\n"},
     None, [], "a `model:` teacher has no checkpoints", "checkpoint: ^last", 0, "error"),
    ("missing-source", {"teachers": "  t:\n    source: runs/nope\n"}, None, [],
     "teacher source not found (checked at training time)", "source: ^runs/nope", 0,
     "warning"),
    ("neither-run-nor-bundle", {"teachers": "  t:\n    source: empty\n"},
     lambda d: (d / "empty").mkdir(), [],
     "teacher source is neither a run directory nor an exported bundle", "source: ^empty", 0,
     "error"),
    ("bundle-last", {"teachers": "  t:\n    source: bundles/teacher\n    checkpoint: last\n"},
     None, [], "a bundle holds one set of weights", "checkpoint: ^last", 0, "error"),
    ("unknown-teacher-encoder", {"teachers": RUN.replace("    objectives:\n", "    encoder: "
                                                         "nope\n") + "    objectives: {}\n"},
     None, [], "the teacher has no encoder 'nope'", "encoder: ^nope", 0, "error"),
    ("unknown-student", {"teachers": RUN + "      logits: {}\n    student: nope\n"}, None, [],
     "student encoder 'nope' is not declared", "student: ^nope", 0, "error"),
    ("pkd-on-textcnn", {"teachers": RUN + "      pkd: {}\n    student: small\n",
                        "encoders": "  small: {type: textcnn, tokenizer: minilm-l6, "
                                    "embedding_dim: 16}\n"}, None, [],
     "matches transformer layers, but student encoder 'small' is a textcnn encoder",
     "pkd: ^{}", 0, "error"),
    ("layer-map-out-of-range",
     {"teachers": RUN.replace("runs/teacher", "runs/t32") + "      pkd: {layers: [[1, 2], "
                                                            "[3, 4]]}\n"},
     _runs(("t32", {"hidden": 32})), [],
     "student layer 3 of [3, 4] is out of range: the student has 2 layer(s)",
     "[1, 2], ^[3, 4]", 0, "error"),
    ("teacher-layer-out-of-range",
     {"teachers": RUN.replace("runs/teacher", "runs/t32") + "      pkd: {layers: [[2, 5]]}\n"},
     _runs(("t32", {"hidden": 32})), [],
     "teacher layer 5 of [2, 5] is out of range: the teacher has 4 layer(s)", "[^[2, 5]]", 0,
     "error"),
    ("uniform-shallow-teacher",
     {"teachers": RUN.replace("runs/teacher", "runs/t1") + "      pkd: {layers: uniform}\n"},
     _runs(("t1", {"hidden": 32, "layers": 1})), [],
     "'uniform' maps each of the student's 2 layers to a distinct teacher layer",
     "layers: ^uniform", 0, "error"),
    ("pkd-width-mismatch", {"teachers": RUN + "      pkd: {}\n"}, None, [],
     "PKD compares [CLS] states of equal widths (student width 32, teacher width 64)",
     "pkd: ^{}", 0, "error"),
    ("tinybert-no-projection", {"teachers": RUN + "      tinybert: {project: false}\n"}, None,
     [], "the widths differ (student width 32, teacher width 64) and project is off",
     "project: ^false", 0, "error"),
    ("tinybert-attention-heads",
     {"teachers": RUN.replace("runs/teacher", "runs/h8") + "      tinybert: {parts: "
                                                           "[attentions]}\n"},
     _runs(("h8", {"heads": 8})), [], "the student has 4 heads, the teacher 8",
     "parts: ^[attentions]", 0, "error"),
    ("minilm-heads", {"teachers": RUN.replace("runs/teacher", "runs/h8") + "      minilm: {}\n"},
     _runs(("h8", {"heads": 8})), [], "MiniLM compares attention and value relations head by "
     "head: the student has 4 heads, the teacher 8", "minilm: ^{}", 0, "error"),
    ("minilm-teacher-layer", {"teachers": RUN + "      minilm: {teacher_layer: 7}\n"}, None, [],
     "teacher layer 7 is out of range: the teacher has 4 layers", "teacher_layer: ^7", 0,
     "error"),
    ("vocabulary-mismatch",
     {"teachers": "  t:\n    source: bundles/other\n    objectives: {logits: {}}\n"},
     lambda d: make_bundle(d / "bundles" / "other", other_vocab=True), [],
     "teacher 't' reads other word pieces than the student", "  ^t:", 0, "error"),
    ("vocabulary-size-mismatch",  # no tokenizer files: the config's vocab_size decides
     {"teachers": "  t:\n    model: models/wide\n    objectives: {tinybert: {parts: [hidden]}}\n"},
     lambda d: _model_folder(d / "models" / "wide", vocab=30527), [],
     "have different vocabularies", "  ^t:", 0, "error"),
    ("unknown-model", {"teachers": "  t:\n    model: models/nope\n"}, None, [],
     "model folder not found", "model: ^models/nope", 0, "error"),
    ("teacher-run-does-not-validate", {"teachers": "  t:\n    source: runs/broken\n"},
     lambda d: make_run(d / "runs" / "broken", head_type="clasify"), [],
     "the teacher run's recipe.yaml does not validate", "source: ^runs/broken", 0, "error"),
    ("logits-from-bare-encoder",
     {"teachers": "  t:\n    model: minilm-l6\n    objectives:\n      logits: {}\n"}, None, [],
     "teacher 't' is a bare encoder (`model:`) with no head", "logits: ^{}", 0, "error"),
    ("logits-unknown-student-head", {"teachers": RUN + "      logits: {heads: {nope: cls}}\n"},
     None, [], "student head 'nope' is not declared", "{^nope: cls}", 0, "error"),
    ("logits-unknown-teacher-head", {"teachers": RUN + "      logits: {heads: {cls: nope}}\n"},
     None, [], "teacher 't' has no head 'nope'", "{cls: ^nope}", 0, "error"),
    ("logits-no-shared-head",
     {"teachers": RUN.replace("runs/teacher", "runs/named") + "      logits: {}\n"},
     _runs(("named", {"head": "sentiment"})), [],
     "no student head has the name of a head of teacher 't'", "logits: ^{}", 0, "error"),
    ("logits-label-order",
     {"teachers": RUN.replace("runs/teacher", "runs/swapped") + "      logits: {}\n"},
     _runs(("swapped", {"labels": ("pos", "neg")})), [],
     "list the same labels in another order", "logits: ^{}", 0, "error"),
    ("logits-other-labels",
     {"teachers": RUN.replace("runs/teacher", "runs/three") + "      logits: {}\n"},
     _runs(("three", {"labels": ("neg", "neu", "pos")})), [], "have different labels",
     "logits: ^{}", 0, "error"),
    ("logits-other-head-type",
     {"teachers": RUN.replace("runs/teacher", "runs/match") + "      logits: {}\n"},
     _runs(("match", {"head_type": "match"})), [],
     "student head 'cls' (classify) cannot learn the logits of teacher head 'cls' (match)",
     "logits: ^{}", 0, "error"),
    ("teacher-teaches-nothing", {"teachers": "  t:\n    source: runs/teacher\n"}, None, [],
     "teacher 't' teaches nothing", "  ^t:", 0, "warning"),
    ("distill-without-teachers", {}, None, [], "method 'distill' needs teachers",
     "{type: ^distill}", 0, "error"),
    ("teachers-with-supervised", {"teachers": RUN + "      logits: {}\n",
                                  "method": "{type: supervised}"}, None, [],
     "teacher 't' has objectives but method 'supervised' ignores them", "  ^t:", 0, "error"),
    ("teachers-with-tp", {"teachers": RUN + "      logits: {}\n",
                          "extra": "parallel: {plugin: hybrid, tp: 2}\n"}, None, [],
     "distillation cannot run with pipeline or tensor parallelism", "^teachers:", 0, "error"),
    ("domain-expertise-without-domains",
     {"teachers": RUN + "      logits: {}\n",
      "method": "{type: distill, weighting: domain_expertise}"}, None, [NO_DOMAIN],
     "domain_expertise weights each example by its domain, but no dataset has domains",
     "weighting: ^domain_expertise", 0, "error"),
    ("meta-teacher-without-domains", {"method": "{type: meta_teacher}"}, None, [NO_DOMAIN],
     "the meta-teacher learns across domains, but no dataset has domains",
     "{type: ^meta_teacher}", 0, "error"),
    ("meta-teacher-one-domain", {"method": "{type: meta_teacher}"}, None,
     [("  max_length: 16\n", "  max_length: 16\n  domains: [a]\n")],
     "the meta-teacher learns across domains: it needs at least 2", "domains: ^[a]", 0,
     "error"),
    ("from-unknown-teacher", {"teachers": RUN + "      logits: {}\n",
                              "encoders": "  small: {type: hf, from_teacher: nope}\n"}, None,
     [], "teacher 'nope' is not declared", "from_teacher: ^nope", 0, "error"),
    ("from-teacher-and-model",
     {"teachers": RUN + "      logits: {}\n",
      "encoders": "  small: {type: hf, from_teacher: t, model: minilm-l6}\n"}, None, [],
     "'model' and 'from_teacher' both say where the encoder comes from", "model: ^minilm-l6",
     0, "error"),
    ("layers-twice", {"teachers": RUN + "      logits: {}\n",
                      "encoders": "  small: {type: hf, from_teacher: t, layers: [0, 0]}\n"},
     None, [], "layer 0 is kept twice", "[0, ^0]", 0, "error"),
    ("layers-beyond-teacher", {"teachers": RUN + "      logits: {}\n",
                               "encoders": "  small: {type: hf, from_teacher: t, "
                                           "layers: [0, 5]}\n"}, None, [],
     "layer 5 is out of range: the source model has 4 layers", "[0, ^5]", 0, "error"),
    ("layers-beyond-model", {"teachers": RUN + "      logits: {}\n",
                             "encoders": "  small: {type: hf, model: minilm-l6, "
                                         "layers: [0, 6]}\n"}, None, [],
     "layer 6 is out of range: the source model has 6 layers", "[0, ^6]", 0, "error"),
    ("stage-named-twice", {"teachers": RUN + "      logits: {}\n",
                           "extra": "stages:\n  - {name: a}\n  - {name: a}\n"}, None, [],
     "stage 'a' is named twice", "name: ^a", 1, "error"),
    ("stage-unknown-data", {"teachers": RUN + "      logits: {}\n",
                            "extra": "stages:\n  - {name: a, data: nope}\n"}, None, [],
     "dataset 'nope' is not declared", "data: ^nope", 0, "error"),
    ("stage-unknown-data-in-list", {"teachers": RUN + "      logits: {}\n",
                                    "extra": "stages:\n  - {name: a, data: [main, nope]}\n"},
     None, [], "dataset 'nope' is not declared", "[main, ^nope]", 0, "error"),
    ("stage-unknown-teacher", {"teachers": RUN + "      logits: {}\n",
                               "extra": "stages:\n  - name: a\n    objectives: {u: "
                                        "{logits: {}}}\n"}, None, [],
     "teacher 'u' is not declared", "{^u: {", 0, "error"),
    ("stage-objective-checked", {"teachers": RUN + "      logits: {}\n",
                                 "extra": "stages:\n  - name: a\n    objectives: {t: "
                                          "{pkd: {}}}\n"}, None, [],
     "PKD compares [CLS] states of equal widths", "{pkd: ^{}}", 0, "error"),
    ("stage-freeze-unknown", {"teachers": RUN + "      logits: {}\n",
                              "extra": "stages:\n  - {name: a, freeze: {nope: 1}}\n"}, None,
     [], "encoder 'nope' is not declared", "{^nope: 1}", 0, "error"),
    ("stage-freeze-too-deep", {"teachers": RUN + "      logits: {}\n",
                               "extra": "stages:\n  - {name: a, freeze: {enc: 3}}\n"}, None,
     [], "encoder 'enc' has 2 layers", "{enc: ^3}", 0, "error"),
]


@pytest.mark.parametrize(("kw", "setup", "replace", "words", "marker", "nth", "severity"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_problem_is_located(workdir: Path, kw: dict, setup, replace: list, words: str,
                            marker: str, nth: int, severity: str) -> None:
    if setup is not None:
        setup(workdir)
    text = student_recipe(**kw)
    for old, new in replace:
        assert old in text
        text = text.replace(old, new)
    path = workdir / "student.yaml"
    path.write_text(text)
    found = [p for p in problems_of(path) if words in p.message]
    assert found, "\n".join(p.render() for p in problems_of(path))
    line, col = located(text, marker, nth)
    problem = found[0]
    assert problem.severity == severity, problem.render()
    assert problem.loc is not None and problem.loc.file.endswith("student.yaml")
    assert (problem.loc.line, problem.loc.col) == (line, col), problem.render()
    assert problem.render().startswith(f"{path}:{line}:{col}: {severity}: ")


# ── valid recipes: nothing to say about teachers ─────────────────────────────────────────────

XTREME = """\
stages:
  - name: hidden
    objectives: {t: {tinybert: {parts: [hidden]}}}
    hard: 0.0
    epochs: 1
  - name: logits
    objectives: {t: {logits: {temperature: 2.0}}}
    epochs: 1
  - name: finetune
    objectives: {}
    hard: 1.0
    unfreeze: gradual
    freeze: {enc: 1}
"""

VALID = [
    ("logits-kd-from-run", {"teachers": RUN + "      logits: {temperature: 2.0, alpha: 0.5}\n"}),
    ("tinybert-projection", {"teachers": RUN + "      tinybert: {layers: uniform}\n"}),
    ("bundle-logits-minilm", {"teachers": "  t:\n    source: bundles/teacher\n    objectives: "
                                          "{logits: {}, minilm: {}}\n"}),
    ("bare-encoder", {"teachers": "  t:\n    model: minilm-l6\n    objectives: {tinybert: "
                                  "{parts: [embeddings, hidden]}}\n"}),
    ("explicit-map", {"teachers": RUN + "      tinybert: {layers: [[1, 2], [2, 4]]}\n"}),
    ("xtremedistil-stages", {"teachers": RUN + "      logits: {}\n", "extra": XTREME}),
    ("extracted-student", {"teachers": RUN + "      logits: {}\n      pkd: {layers: last}\n",
                           "enc": "  enc: {type: hf, from_teacher: t, layers: [0, 3]}\n"}),
    ("weighting", {"teachers": RUN + "      logits: {}\n",
                   "method": "{type: distill, weighting: domain_expertise}"}),
    ("supervised-student-cut-from-a-teacher", {
        "teachers": "  t:\n    source: runs/teacher\n", "method": "{type: supervised}",
        "enc": "  enc: {type: hf, from_teacher: t, layers: [0, 3]}\n"}),
    ("staged-without-teachers", {"method": "{type: supervised}",
                                 "extra": "stages:\n  - {name: a}\n  - {name: b, freeze: "
                                          "{enc: 1}}\n"}),
]


@pytest.mark.parametrize("kw", [v[1] for v in VALID], ids=[v[0] for v in VALID])
def test_valid_teacher_recipes(workdir: Path, kw: dict) -> None:
    text = student_recipe(**kw)
    path = workdir / "student.yaml"
    path.write_text(text)
    assert [p.render() for p in problems_of(path)] == []


def test_no_data_skips_the_teachers_files(workdir: Path) -> None:
    """`--no-data` (and loading a finished run) does not open the teachers' files: a missing
    source says nothing, the static checks still run."""
    path = workdir / "student.yaml"
    path.write_text(student_recipe("  t:\n    source: runs/nope\n    objectives: "
                                   "{logits: {heads: {nope: cls}}}\n"))
    with pytest.raises(RecipeError) as err:
        load_recipe(path, check_data=False)
    assert [p.message for p in err.value.problems] == ["student head 'nope' is not declared"]


def test_extracted_student_shape(workdir: Path) -> None:
    """`from_teacher` + `layers` give the student the teacher's width and the kept depth, so
    the plan checks (tp divides, memory) see its real shape."""
    from etdecl.recipe.modelinfo import encoder_shape, source_shape

    text = student_recipe(RUN + "      logits: {}\n",
                          encoders="  small: {type: hf, from_teacher: t, layers: [0, 3]}\n"
                                   "  cut: {type: hf, model: minilm-l6, layers: [0, 5]}\n")
    path = workdir / "student.yaml"
    path.write_text(text)
    lr = load_recipe(path)
    small = encoder_shape(lr.recipe.encoders["small"], workdir, lr)
    assert (small.layers, small.hidden, small.heads) == (2, 64, 4)
    assert source_shape(lr.recipe.encoders["small"], workdir, lr).layers == 4
    cut = encoder_shape(lr.recipe.encoders["cut"], workdir, lr)
    assert (cut.layers, cut.hidden, cut.heads) == (2, 384, 12)
    assert encoder_shape(lr.recipe.encoders["small"], workdir) is None  # no recipe: unknown


def test_vocabulary_fingerprint_is_the_word_pieces(workdir: Path) -> None:
    """tokenizer.json and vocab.txt of the same tokenizer agree; a swapped pair does not."""
    from etdecl.recipe.teacherinfo import tokenizer_vocab, vocab_fingerprint

    alias = tokenizer_vocab("minilm-l6", workdir)
    only_txt = workdir / "txt"
    only_txt.mkdir()
    (only_txt / "vocab.txt").write_bytes((minilm_folder() / "vocab.txt").read_bytes())
    other = make_bundle(workdir / "bundles" / "other", other_vocab=True)
    assert alias is not None
    assert vocab_fingerprint(workdir / "bundles" / "teacher" / "tokenizers" / "enc") == alias
    assert vocab_fingerprint(only_txt) == alias
    assert vocab_fingerprint(other / "tokenizers" / "enc") not in (None, alias)


def test_teacher_info_of_a_run_and_a_bundle(workdir: Path) -> None:
    from etdecl.recipe.teacherinfo import bundle_teacher, run_teacher

    run = run_teacher(workdir / "runs" / "teacher")
    bundle = bundle_teacher(workdir / "bundles" / "teacher")
    for info in (run, bundle):
        enc = info.encoders["enc"]
        assert (enc.type, enc.shape.layers, enc.shape.hidden, enc.shape.heads) == ("hf", 4, 64, 4)
        assert info.heads["cls"].labels == ("neg", "pos")
        assert info.default_encoder() == "enc"
    assert run.encoders["enc"].vocab == bundle.encoders["enc"].vocab is not None


# ── layer maps ───────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("spec", "s", "t", "pairs"), [
    ("uniform", 2, 6, [(1, 3), (2, 6)]),
    ("uniform", 3, 12, [(1, 4), (2, 8), (3, 12)]),
    ("uniform", 4, 12, [(1, 3), (2, 6), (3, 9), (4, 12)]),
    ("uniform", 6, 6, [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6)]),
    ("uniform", 3, 4, [(1, 1), (2, 3), (3, 4)]),
    ("last", 2, 6, [(1, 5), (2, 6)]),
    ("last", 3, 12, [(1, 10), (2, 11), (3, 12)]),
    ([[1, 2], [2, 6]], 2, 6, [(1, 2), (2, 6)]),
    ([[2, 6], [1, 1]], 2, 6, [(2, 6), (1, 1)]),
])
def test_resolve_layer_map(spec, s: int, t: int, pairs: list) -> None:
    assert resolve_layer_map(spec, s, t) == pairs


@pytest.mark.parametrize(("spec", "s", "t", "words"), [
    ("uniform", 4, 2, "the teacher has only 2"),
    ("last", 3, 2, "the teacher has only 2"),
    ([[3, 1]], 2, 6, "student layer 3 of [3, 1] is out of range"),
    ([[0, 1]], 2, 6, "student layer 0 of [0, 1] is out of range"),
    ([[1, 7]], 2, 6, "teacher layer 7 of [1, 7] is out of range"),
    ([[1, 1], [1, 2]], 2, 6, "student layer 1 is mapped twice"),
])
def test_layer_map_problems(spec, s: int, t: int, words: str) -> None:
    assert any(words in p for p in layer_map_problems(spec, s, t))
    with pytest.raises(ValueError, match="out of range|only|twice"):
        resolve_layer_map(spec, s, t)


# ── the cache estimate of `plan` ─────────────────────────────────────────────────────────────


def test_cache_estimate_exact_bytes(workdir: Path) -> None:
    """Teacher: 4 layers, width 64, 4 heads; student 2 layers; max_length 16; 1000 rows."""
    from etdecl.recipe.cache_estimate import teacher_cache_estimate

    text = student_recipe(RUN + "      logits: {}\n      pkd: {layers: last}\n"
                          "      tinybert: {layers: uniform}\n      minilm: {}\n",
                          method="{type: distill, weighting: domain_expertise}")
    path = workdir / "student.yaml"
    path.write_text(text)
    lr = load_recipe(path, check_data=False)
    got = {e.output: (e.shape, e.dtype, e.layers, e.bytes)
           for e in teacher_cache_estimate(lr, 1000)}
    assert got == {
        "cls.logits": ((2,), "float32", (), 1000 * 2 * 4),
        "cls": ((2, 64), "float16", (3, 4), 1000 * 2 * 64 * 2),
        "hidden_states": ((3, 16, 64), "float16", (0, 2, 4), 1000 * 3 * 16 * 64 * 2),
        "attentions": ((2, 4, 16, 16), "float16", (2, 4), 1000 * 2 * 4 * 16 * 16 * 2),
        "relations": ((2, 4, 16, 16), "float16", (), 1000 * 2 * 4 * 16 * 16 * 2),
        "pooled": ((64,), "float32", (), 1000 * 64 * 4),
    }
    off = path.read_text().replace("{type: distill, weighting: domain_expertise}",
                                   "{type: distill, cache: false}")
    path.write_text(off)
    assert teacher_cache_estimate(load_recipe(path, check_data=False), 1000) == []


def test_plan_table_prints_the_total(workdir: Path) -> None:
    from rich.console import Console

    from etdecl.plan import teacher_cache_table

    path = workdir / "student.yaml"
    path.write_text(student_recipe(RUN + "      logits: {}\n      pkd: {layers: last}\n"))
    console = Console(width=160, record=True)
    console.print(teacher_cache_table(load_recipe(path, check_data=False), 1000, console))
    out = console.export_text()
    total = 1000 * 2 * 4 + 1000 * 2 * 64 * 2
    assert f"({total:,} bytes)" in out and "cls (layers 3, 4)" in out


# ── torch-free ───────────────────────────────────────────────────────────────────────────────

PROBE = """
import json, sys
from etdecl.cli import app
try:
    app(sys.argv[1:], prog_name="etdecl")
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "transformers",
                                                             "colossalai"})
print(json.dumps({"exit": code, "heavy": heavy}))
"""


def test_validating_a_teacher_recipe_does_not_import_torch(workdir: Path) -> None:
    text = student_recipe(RUN + "      logits: {}\n      tinybert: {}\n", extra=XTREME,
                          enc="  enc: {type: hf, from_teacher: t, layers: [0, 3]}\n")
    path = workdir / "student.yaml"
    path.write_text(text)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROBE, "validate", str(path)], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"exit": 0, "heavy": []}, \
        done.stdout
