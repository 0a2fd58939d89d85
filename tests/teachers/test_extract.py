"""Student initialisation: `layers:` keeps chosen transformer layers with their weights, and
`from_teacher:` starts from a teacher run's trained encoder (extract-then-distill)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from training_support import TINY_RECIPE, load_weights, run_cli, synthetic_rows, write_jsonl

from etdecl.compile import compile_recipe
from etdecl.recipe.errors import RecipeError
from etdecl.recipe.validate import load_recipe

CONFIG = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64,
              vocab_size=30522, max_position_embeddings=64, hidden_dropout_prob=0.0,
              attention_probs_dropout_prob=0.0)

RECIPE = """\
etdecl: 1
name: student
data:
  train: {{path: train.jsonl}}
  dev: {{path: dev.jsonl}}
  fields: {{text: text, label: label, domain: domain}}
  max_length: 16
{teachers}
encoders:
  enc:
    type: hf
{source}
    pooling: mean
    layers: {layers}
heads:
  cls: {{type: classify, input: enc, labels: [neg, pos], dropout: 0.0}}
"""


@pytest.fixture(scope="module")
def four_layers(tmp_path_factory) -> Path:
    """A random 4-layer BERT saved as a model folder (with MiniLM's tokenizer files)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from etdecl.recipe.aliases import resolve_model

    folder = tmp_path_factory.mktemp("bert4")
    torch.manual_seed(0)
    BertModel(BertConfig(**CONFIG), add_pooling_layer=False).save_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(str(resolve_model("minilm-l6", Path("."))))
    tok.save_pretrained(folder)
    return folder


def _data(folder: Path) -> None:
    write_jsonl(folder / "train.jsonl", synthetic_rows(64, seed=1))
    write_jsonl(folder / "dev.jsonl", synthetic_rows(32, seed=2))


def _recipe(folder: Path, source: str, layers: str, teachers: str = "") -> Path:
    _data(folder)
    path = folder / "student.yaml"
    path.write_text(RECIPE.format(source=source, layers=layers, teachers=teachers))
    return path


def test_extracted_layers_equal_the_models_layers_weight_for_weight(four_layers, tmp_path):
    from transformers import BertModel

    recipe = _recipe(tmp_path, f"    model: {four_layers}", "[0, 3]")
    student = compile_recipe(load_recipe(recipe)).model.encoders["enc"]
    full = BertModel.from_pretrained(str(four_layers), add_pooling_layer=False).eval()
    assert student.backbone.config.num_hidden_layers == 2 and student.n_layers == 2
    mine = student.backbone.state_dict()
    theirs = full.state_dict()
    for key, value in mine.items():
        if key.startswith("encoder.layer."):
            i = int(key.split(".")[2])
            src = key.replace(f"encoder.layer.{i}.", f"encoder.layer.{[0, 3][i]}.", 1)
        else:
            src = key
        assert torch.equal(value, theirs[src]), key
    # its outputs are those of running the model's layers 0 and 3 by hand
    student.eval()
    ids = torch.randint(1000, 2000, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.no_grad():
        out = student(ids, mask).tokens
        h = full.embeddings(input_ids=ids)
        ext = full.get_extended_attention_mask(mask, ids.shape)
        for i in (0, 3):
            h = full.encoder.layer[i](h, attention_mask=ext)[0]
    assert torch.allclose(out, h, atol=1e-5)


def test_layers_out_of_range_and_unsupported_layouts_are_refused(four_layers, tmp_path):
    recipe = _recipe(tmp_path, f"    model: {four_layers}", "[0, 4]")
    with pytest.raises(RecipeError) as err:  # in validate, before any weight loads
        load_recipe(recipe, check_data=False)
    assert "layer 4 is out of range: the source model has 4 layers" in str(err.value)
    assert "student.yaml:" in str(err.value) and "encoders.enc.layers[1]" in str(err.value)
    from transformers import DistilBertConfig, DistilBertModel

    from etdecl.components.extract import keep_layers

    model = DistilBertModel(DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=64))
    with pytest.raises(ValueError, match="only BERT-family and MPNet"):
        keep_layers(model, [0])


def test_mpnet_layers_extract_too():
    from transformers import MPNetConfig, MPNetModel

    from etdecl.components.extract import keep_layers

    model = MPNetModel(MPNetConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                                   intermediate_size=64, vocab_size=100))
    third = model.encoder.layer[2]
    keep_layers(model, [2])
    assert model.config.num_hidden_layers == 1 and model.encoder.layer[0] is third
    model(input_ids=torch.randint(5, 90, (2, 7)))


def test_from_teacher_copies_the_trained_teachers_weights(tmp_path):
    _data(tmp_path)
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(TINY_RECIPE.format(epochs=1, dropout=0.0, pooling="mean"))
    run = tmp_path / "teacher-run"
    proc = run_cli("train", str(teacher), "--run-dir", str(run), "--set", "train.max_steps=3")
    assert proc.returncode == 0, proc.stderr
    trained = load_weights(run / "checkpoints" / "best" / "model.safetensors")
    init = compile_recipe(load_recipe(teacher)).model.state_dict()
    layer = "encoders.enc.backbone.encoder.layer.1.attention.self.query.weight"
    assert not torch.equal(trained[layer], init[layer])  # it did train
    teachers = f"teachers:\n  t: {{source: {run}}}"
    recipe = _recipe(tmp_path, "    from_teacher: t", "[1]", teachers)
    compiled = compile_recipe(load_recipe(recipe))
    student = compiled.model.state_dict()
    prefix = "encoders.enc.backbone."
    for key, value in student.items():
        if not key.startswith(prefix):
            continue
        src = key.replace("encoder.layer.0.", "encoder.layer.1.")
        assert torch.equal(value, trained[src]), key
    assert compiled.model.encoders["enc"].n_layers == 1
    assert len(compiled.tokenizer) == 30522  # the teacher's tokenizer
    # an exported bundle of the teacher gives the same student
    bundle = tmp_path / "teacher-bundle"
    proc = run_cli("export", str(run), "--format", "bundle", "--output", str(bundle))
    assert proc.returncode == 0, proc.stderr
    teachers = f"teachers:\n  t: {{source: {bundle}}}"
    recipe = _recipe(tmp_path, "    from_teacher: t", "[1]", teachers)
    again = compile_recipe(load_recipe(recipe)).model.state_dict()
    for key, value in student.items():
        assert torch.equal(value, again[key]), key


def test_from_teacher_must_name_a_teacher(tmp_path):
    recipe = _recipe(tmp_path, "    from_teacher: nobody", "[0]")
    with pytest.raises(RecipeError, match="teacher 'nobody' is not declared"):
        load_recipe(recipe, check_data=False)


@pytest.mark.slow
def test_two_layer_minilm_is_layers_0_and_5_of_minilm_l6(tmp_path):
    from transformers import AutoModel

    from etdecl.recipe.aliases import resolve_model

    recipe = _recipe(tmp_path, "    model: minilm-l6", "[0, 5]")
    student = compile_recipe(load_recipe(recipe)).model.encoders["enc"].backbone
    full = AutoModel.from_pretrained(str(resolve_model("minilm-l6", Path("."))))
    assert student.config.num_hidden_layers == 2 and student.config.hidden_size == 384
    theirs = full.state_dict()
    for key, value in student.state_dict().items():
        src = key.replace("encoder.layer.1.", "encoder.layer.5.")
        assert torch.equal(value, theirs[src]), key


def test_a_student_cut_from_a_teacher_opens_without_the_teacher(tmp_path):
    """The trained student keeps its own copy of the cut encoder's config and tokenizer, so
    evaluating it needs neither the teacher's run nor its package: it predicts the same."""
    import shutil

    from etdecl.engine.inference import evaluate_file, load_run

    _data(tmp_path)
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(TINY_RECIPE.format(epochs=1, dropout=0.0, pooling="mean"))
    run = tmp_path / "teacher-run"
    proc = run_cli("train", str(teacher), "--run-dir", str(run), "--set", "train.max_steps=2")
    assert proc.returncode == 0, proc.stderr
    teachers = f"teachers:\n  t: {{source: {run}}}"
    recipe = _recipe(tmp_path, "    from_teacher: t", "[1]", teachers)
    student = tmp_path / "student-run"
    proc = run_cli("train", str(recipe), "--run-dir", str(student), "--set", "train.max_steps=2")
    assert proc.returncode == 0, proc.stderr
    before = evaluate_file(load_run(student), tmp_path / "dev.jsonl")
    assert (student / "encoders" / "enc" / "config.json").is_file()
    shutil.rmtree(run)
    again = load_run(student)
    assert again.compiled.model.encoders["enc"].n_layers == 1
    assert evaluate_file(again, tmp_path / "dev.jsonl") == before
