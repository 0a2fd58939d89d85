"""What `etdecl validate` says about the meta-learning methods, torch-free, wherever they are
used (the recipe's `method:` or a stage's own): every problem located at the key to change
(file:line:col), and the gallery's MetaFT / MetaDTL recipes valid."""

from __future__ import annotations

from pathlib import Path

import pytest
from meta_support import META_DTL, write_recipe

from etdecl.recipe.errors import Problem, RecipeError
from etdecl.recipe.validate import load_recipe

ROOT = Path(__file__).resolve().parents[2]


def problems_of(path: Path) -> list[Problem]:
    try:
        loaded = load_recipe(path, check_data=False)
    except RecipeError as err:
        return list(err.problems)
    return list(loaded.warnings)


def located(text: str, marker: str, nth: int = 0) -> tuple[int, int]:
    """(line, column) of the `^` in `marker` at its nth occurrence in the recipe text."""
    clean = marker.replace("^", "")
    hits = [(i, line.index(clean)) for i, line in enumerate(text.splitlines(), 1)
            if clean in line]
    assert len(hits) > nth, f"{marker!r} not in the recipe"
    line, col = hits[nth]
    return line, col + marker.index("^") + 1


SUPERVISED = "method: {type: supervised}\n"
TOPIC_HEAD = ("  topic: {type: classify, input: enc, data: topic, labels: [music, sport, food], "
              "dropout: 0.0}\n")
NO_DOMAIN = ("fields: {text: text, label: label, domain: domain}", "fields: {text: text, label: "
             "label}")


def staged(method: str, data: str = "senti", more: str = "") -> str:
    return f"stages:\n  - name: meta\n    data: {data}\n    method: {method}\n{more}"


# (id, method line, extra text, replacements, message words, marker, nth)
CASES = [
    ("dtl-one-head", META_DTL, "", [(TOPIC_HEAD, "")],
     "method meta_dtl learns across tasks, but method trains 1 head ('cls')",
     "type: ^meta_dtl", 0),
    ("dtl-head-not-classify", META_DTL, "", [(
        "topic: {type: classify", "topic: {type: tag")],
     "head 'topic' is a tag head", "topic: {type: ^tag", 0),
    ("dtl-heads-read-other-encoders", META_DTL, "", [
        ("heads:\n", "  enc2: {type: textcnn, tokenizer: minilm-l6}\nheads:\n"),
        ("topic: {type: classify, input: enc,", "topic: {type: classify, input: enc2,")],
     "head 'topic' reads enc2 and head 'cls' reads enc", "input: ^enc2", 0),
    ("dtl-one-dataset-two-heads", META_DTL, "", [("data: topic, labels", "data: [topic, senti], "
                                                  "labels")],
     "dataset 'senti' trains heads 'cls', 'topic'", "data: ^[topic, senti]", 0),
    ("dtl-pipeline", META_DTL, "parallel: {plugin: hybrid, pp: 2}\n", [],
     "method meta_dtl reads the pooled features inside one forward", "pp: ^2", 0),
    ("stage-dtl-one-task", SUPERVISED, staged("{type: meta_dtl}"), [],
     "method meta_dtl learns across tasks, but stage 'meta' trains 1 head ('cls')",
     "type: ^meta_dtl", 0),
    ("stage-meta-teacher-no-domain", SUPERVISED, staged("{type: meta_teacher}"), [NO_DOMAIN],
     "dataset 'senti' (read by head 'cls') has none", "type: ^meta_teacher", 0),
    ("stage-meta-teacher-one-domain", SUPERVISED, staged("{type: meta_teacher}"), [
        NO_DOMAIN, ("senti: {train: {path: senti-train.jsonl}, ",
                    "senti: {domain: a, train: {path: senti-train.jsonl}, ")],
     "stage 'meta' trains on rows of domain 'a' only", "type: ^meta_teacher", 0),
    ("stage-meta-teacher-first-head-not-classify", SUPERVISED,
     staged("{type: meta_teacher}", data="topic"), [
         ("  cls: {type: classify, input: enc, data: senti",
          "  cls: {type: tag, input: enc, data: senti")],
     "builds class prototypes from the first head, but 'cls' is a tag head",
     "cls: {type: ^tag", 0),
    ("stage-hard-needs-distill", SUPERVISED,
     staged("{type: meta_teacher}", more="    hard: 0.5\n"), [],
     "a stage's 'hard' weight needs method: distill", "hard: ^0.5", 0),
    ("stage-distill-without-teachers", SUPERVISED, staged("{type: distill}"), [],
     "stage 'meta' distils, but no teacher is declared", "type: ^distill", 0),
]


@pytest.mark.parametrize(("method", "extra", "replace", "words", "marker", "nth"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_problem_is_located(tmp_path, method, extra, replace, words, marker, nth):
    path = write_recipe(tmp_path, method=method, extra=extra)
    text = path.read_text()
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    problems = problems_of(path)
    found = [p for p in problems if words in p.message]
    assert found, "\n".join(p.render() for p in problems)
    line, col = located(text, marker, nth)
    problem = found[0]
    assert problem.severity == "error", problem.render()
    assert problem.render().startswith(f"{path}:{line}:{col}: error: "), problem.render()


@pytest.mark.parametrize(("method", "words", "marker"), [
    ("{type: meta_dtl, typicalty: 0.3}", "unknown key 'typicalty' (expected one of 'corruption', "
     "'refresh', 'type', 'typicality'); did you mean 'typicality'?", "^typicalty"),
    ("{type: meta_dt}", "unknown method type 'meta_dt' (expected one of 'adabert', 'distill', "
     "'meta_dtl', 'meta_teacher', 'supervised'); did you mean 'meta_dtl'?", "type: ^meta_dt}"),
])
def test_a_stage_methods_keys_are_checked_like_the_recipes(tmp_path, method, words, marker):
    path = write_recipe(tmp_path, method=SUPERVISED, extra=staged(method))
    text = path.read_text()
    problems = problems_of(path)
    found = [p for p in problems if words in p.render()]
    assert found, "\n".join(p.render() for p in problems)
    line, col = located(text, marker)
    assert found[0].render().startswith(f"{path}:{line}:{col}: error: stages[0].method.")


def test_hard_names_the_stages_own_method(tmp_path):
    path = write_recipe(tmp_path, method=SUPERVISED,
                        extra=staged("{type: supervised}", more="    hard: 0.5\n"))
    found = [p for p in problems_of(path) if "'hard' weight" in p.message]
    assert found and found[0].found == "method: supervised (the stage's own)"


VALID = [
    ("dtl-top-level", META_DTL, ""),
    ("dtl-stage-then-finetune", SUPERVISED, staged("{type: meta_dtl}", data="[senti, topic]")
     + "  - {name: finetune, data: senti, method: {type: supervised}}\n"),
    ("metaft-stages", SUPERVISED, staged("{type: meta_teacher, typicality: 0.3}")
     + "  - {name: finetune, data: senti, method: {type: supervised}}\n"),
    ("distill-stage-elsewhere", SUPERVISED, "stages:\n  - {name: a, data: senti}\n"),
]


@pytest.mark.parametrize(("method", "extra"), [v[1:] for v in VALID], ids=[v[0] for v in VALID])
def test_valid_meta_recipes(tmp_path, method, extra):
    path = write_recipe(tmp_path, method=method, extra=extra)
    assert [p.render() for p in problems_of(path)] == []


@pytest.mark.parametrize("name", ["finetune-mnli", "metaft-mnli", "metadtl-nli-sentiment"])
def test_gallery_recipes_are_valid_and_pick_on_the_target_genre(name):
    loaded = load_recipe(ROOT / "recipes" / f"{name}.yaml", check_data=False)
    assert list(loaded.warnings) == []
    recipe = loaded.recipe
    assert recipe.train.metric == "nli.accuracy[fiction]"
    assert list(recipe.data.sets)[-1] == "target"  # its dev figures are computed last
    if name != "finetune-mnli":
        assert [s.method.type for s in recipe.stages] == [
            "meta_teacher" if name == "metaft-mnli" else "meta_dtl", "supervised"]
        assert recipe.stages[-1].data == "target"


def test_the_finetune_stage_is_the_baseline_recipe():
    """MetaFT's and MetaDTL's fine-tuning stage trains as finetune-mnli.yaml does: the same
    target rows, encoder, head labels and training settings."""
    base = load_recipe(ROOT / "recipes" / "finetune-mnli.yaml", check_data=False).recipe
    for name in ("metaft-mnli", "metadtl-nli-sentiment"):
        recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml", check_data=False).recipe
        assert recipe.data.sets["target"] == base.data.sets["target"]
        assert recipe.encoders == base.encoders and recipe.parallel == base.parallel
        assert recipe.heads["nli"].labels == base.heads["nli"].labels
        tune = recipe.stages[-1]
        assert tune.epochs is None and tune.lr is None and tune.freeze == {}
        assert recipe.train == base.train
