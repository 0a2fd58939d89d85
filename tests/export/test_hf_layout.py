"""`export --format hf`: every exportable graph loads with its transformers Auto class (offline,
no remote code) and gives etdecl's outputs to 1e-5 and its decoded predictions; every other
graph is refused at the recipe key that makes it impossible, with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from etdecl.engine.inference import LoadedRun, load_run, predict_records
from etdecl.export.hf import export_hf, hf_refusal
from etdecl.recipe.errors import RecipeError

EXPORTABLE = {
    "classify-pooler": "BertForSequenceClassification",
    "match-pooler": "BertForSequenceClassification",
    "classify-roberta": "RobertaForSequenceClassification",
    "classify-albert": "AlbertForSequenceClassification",
    "tag": "BertForTokenClassification",
    "span": "BertForQuestionAnswering",
}
"""Fixture kind → the transformers class its export must load as."""

REFUSED = {
    "classify": (("encoders", "enc", "pooling"), "pools by mean"),
    "classify-cls": (("encoders", "enc", "pooling"), "pools by cls"),
    "match-cross": (("encoders", "enc", "pooling"), "pools by mean"),
    "match-siamese": (("heads", "nli", "mode"), "siamese"),
    "tag-crf": (("heads", "ner", "crf"), "no CRF"),
    "textcnn": (("encoders", "enc", "type"), "textcnn encoder"),
    "bilstm": (("encoders", "enc", "type"), "bilstm encoder"),
    "two-datasets": (("heads",), "2 heads"),
}
"""Fixture kind → (recipe key the refusal must point at, words of its reason)."""


def _rows(run_dir: Path) -> list[dict]:
    lines = (run_dir / "dev.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _tokenise(tok, kind: str, rows: list[dict], max_length: int) -> dict[str, torch.Tensor]:
    """The dev rows as a transformers user would tokenise them for this task."""
    common = {"truncation": True, "max_length": max_length, "padding": True,
              "return_tensors": "pt", "return_token_type_ids": True}
    if kind.startswith("match"):
        return dict(tok([r["text_a"] for r in rows], [r["text_b"] for r in rows], **common))
    if kind.startswith("tag"):
        return dict(tok([r["tokens"] for r in rows], is_split_into_words=True, **common))
    if kind.startswith("span"):
        common["truncation"] = "only_second"
        return dict(tok([r["question"] for r in rows], [r["context"] for r in rows], **common))
    return dict(tok([r["text"] for r in rows], **common))


def _hf_inputs(model, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """ids and mask, and token types when the model has them (as etdecl's encoder passes)."""
    out = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    if getattr(model.config, "type_vocab_size", 0) > 1 and "token_type_ids" in batch:
        out["token_type_ids"] = batch["token_type_ids"]
    return out


def _hf_forward(run: LoadedRun, model):
    """etdecl's evaluator forward, computed by the exported transformers model."""
    (name, task), = run.compiled.tasks.items()
    head = run.compiled.model.heads[name]

    @torch.no_grad()
    def forward(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = model(**_hf_inputs(model, batch))
        if task.kind == "span":
            result = {"start_logits": out.start_logits, "end_logits": out.end_logits}
        else:
            result = {"emissions" if task.kind == "tag" else "logits": out.logits}
        result.update(task.eval_outputs(result, batch, head))
        return {f"{name}.{k}": v for k, v in result.items()}

    return forward


def _same_predictions(ours: list[dict], theirs: list[dict]) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        for head, pa in a.items():
            pb = b[head]
            assert set(pa) == set(pb)
            for key, value in pa.items():
                if key in ("probabilities", "score") and value is not None:
                    assert pb[key] == pytest.approx(value, abs=1e-4)
                else:
                    assert pb[key] == value, (head, key)


@pytest.mark.parametrize("kind", list(EXPORTABLE))
def test_export_loads_with_auto_class_and_matches_etdecl(runs, kind, tmp_path):
    import transformers
    from transformers import AutoTokenizer

    run = load_run(runs(kind))
    assert hf_refusal(run) is None
    out = export_hf(run, tmp_path / "hf")
    assert not list(tmp_path.glob(".*partial"))
    (name, task), = run.compiled.tasks.items()
    auto = {"classify": "AutoModelForSequenceClassification",
            "match": "AutoModelForSequenceClassification",
            "tag": "AutoModelForTokenClassification",
            "span": "AutoModelForQuestionAnswering"}[task.kind]
    model, info = getattr(transformers, auto).from_pretrained(
        str(out), output_loading_info=True, trust_remote_code=False)
    model.eval()
    assert type(model).__name__ == EXPORTABLE[kind]
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    if task.kind != "span":
        assert model.config.id2label == dict(enumerate(task.labels))
        assert model.config.label2id == {lab: i for i, lab in enumerate(task.labels)}

    tok = AutoTokenizer.from_pretrained(str(out))
    batch = _tokenise(tok, kind, _rows(run.run_dir), run.loaded.recipe.data.max_length)
    with torch.no_grad():
        theirs = model(**_hf_inputs(model, batch))
        ours = run.compiled.model(**batch)
    real = batch["attention_mask"].bool()
    if task.kind == "span":
        for side in ("start_logits", "end_logits"):  # our head masks padding, HF's doesn't
            torch.testing.assert_close(getattr(theirs, side)[real], ours[f"{name}.{side}"][real],
                                       atol=1e-5, rtol=0)
    elif task.kind == "tag":
        torch.testing.assert_close(theirs.logits[real], ours[f"{name}.emissions"][real],
                                   atol=1e-5, rtol=0)
    else:
        torch.testing.assert_close(theirs.logits, ours[f"{name}.logits"], atol=1e-5, rtol=0)

    rows = _rows(run.run_dir)
    _same_predictions(predict_records(run, rows),
                      predict_records(run, rows, forward=_hf_forward(run, model)))


@pytest.mark.parametrize("kind", list(REFUSED))
def test_other_graphs_are_refused_at_the_key_that_blocks_them(runs, kind, tmp_path):
    path, reason = REFUSED[kind]
    run = load_run(runs(kind))
    refusal = hf_refusal(run)
    assert isinstance(refusal, RecipeError)
    (problem,) = [p for p in refusal.problems if p.path == ".".join(path)]
    assert reason in problem.message
    assert problem.loc is not None and problem.loc == run.loaded.where(*path)
    recipe = run.run_dir / "recipe.yaml"
    assert f"{recipe}:{problem.loc.line}:{problem.loc.col}" in str(refusal)
    line = recipe.read_text().splitlines()[problem.loc.line - 1]
    assert path[-1] == "heads" or f"{path[-1]}:" in line
    assert "bundle or onnx" in (problem.hint or "")
    with pytest.raises(RecipeError) as err:
        export_hf(run, tmp_path / "hf")
    assert str(err.value) == str(refusal)
    assert not (tmp_path / "hf").exists() and not list(tmp_path.iterdir())


def _compiled_run(tmp_path: Path, kind: str, old: str, new: str) -> LoadedRun:
    """A fixture kind's recipe with one edit, compiled (random weights, no checkpoint)."""
    from export_support import KINDS

    from etdecl.compile.graph import compile_recipe
    from etdecl.recipe.validate import load_recipe

    body = KINDS[kind][0]
    assert old in body
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"etdecl: 1\nname: edited\n{body.replace(old, new)}"
                      "train: {epochs: 1, batch_size: 8}\n")
    loaded = load_recipe(recipe, check_data=False)
    compiled = compile_recipe(loaded)
    compiled.model.eval()
    return LoadedRun(tmp_path, loaded, compiled, recipe)


def test_sparse_attention_is_refused_at_its_key(tmp_path):
    run = _compiled_run(tmp_path, "classify-pooler", "    pooling: pooler\n",
                        "    pooling: pooler\n    attention: {type: rsa, block: 4, "
                        "local_blocks: 1, random_blocks: 1}\n")
    refusal = hf_refusal(run)
    assert refusal is not None
    (problem,) = refusal.problems
    assert problem.path == "encoders.enc.attention" and "dense attention" in problem.message
    assert problem.loc == run.loaded.where("encoders", "enc", "attention")


def test_export_refuses_a_non_empty_output(runs, tmp_path):
    run = load_run(runs("classify-pooler"))
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        export_hf(run, tmp_path / "hf")
    assert (tmp_path / "hf" / "keep.txt").read_text() == "mine"


def test_pooler_on_a_model_without_one_is_a_located_error(tmp_path):
    with pytest.raises(RecipeError) as err:
        _compiled_run(tmp_path, "classify-pooler", "model_type: bert",
                      "model_type: distilbert, hidden_dim: 64")
    (problem,) = err.value.problems
    assert problem.path == "encoders.enc.config" and "has none" in problem.message
    assert "pooling: cls or mean" in problem.message


@pytest.mark.slow
def test_minilm_with_its_pooler_exports_and_matches(tmp_path):
    """The real model: MiniLM-L6 ships trained pooler weights, which the export keeps."""
    from export_support import KINDS, TINY_ENCODER
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tiny = TINY_ENCODER.replace("pooling: mean", "pooling: pooler")
    assert tiny in KINDS["classify-pooler"][0]
    run = _compiled_run(tmp_path, "classify-pooler", tiny,
                        "  enc: {type: hf, model: minilm-l6, pooling: pooler}\n")
    out = export_hf(run, tmp_path / "hf")
    model = AutoModelForSequenceClassification.from_pretrained(str(out)).eval()
    texts = ["a moving, charming film", "dull and lifeless"]
    batch = dict(AutoTokenizer.from_pretrained(str(out))(texts, padding=True,
                                                         return_tensors="pt"))
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, run.compiled.model(**batch)["cls.logits"],
                                   atol=1e-5, rtol=0)


@pytest.mark.parametrize("model_type", ["xlm-roberta", "camembert", "mpnet"])
def test_other_roberta_like_types_match(tmp_path, model_type):
    """The rest of the RoBERTa-like list (pooler dense → classifier.dense), on tiny configs."""
    from transformers import AutoModelForSequenceClassification

    run = _compiled_run(tmp_path, "classify-pooler", "model_type: bert",
                        f"model_type: {model_type}")
    out = export_hf(run, tmp_path / "hf")
    model, info = AutoModelForSequenceClassification.from_pretrained(
        str(out), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    ids = torch.tensor([[101, 2023, 3185, 2001, 102, 0], [101, 2204, 102, 0, 0, 0]])
    batch = {"input_ids": ids, "attention_mask": (ids != 0).long()}
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(**batch).logits,
                                   run.compiled.model(**batch)["cls.logits"], atol=1e-5, rtol=0)
