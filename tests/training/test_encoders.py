"""Encoders from recipes: the transformer families AutoModel builds (from `config:`), frozen
layers, layer-wise learning-rate decay, and small encoders starting from MiniLM's embeddings."""

from __future__ import annotations

import pytest
import torch

from etdecl.compile import compile_recipe
from etdecl.engine.optim import param_groups
from etdecl.recipe import load_recipe

SMALL = {"hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64,
         "vocab_size": 30522, "max_position_embeddings": 64}
FAMILIES = {
    "bert": {**SMALL, "num_hidden_layers": 2},
    "albert": {**SMALL, "num_hidden_layers": 2, "embedding_size": 16},
    "roberta": {**SMALL, "num_hidden_layers": 2, "max_position_embeddings": 66},
    "distilbert": {"dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 64,
                   "vocab_size": 30522, "max_position_embeddings": 64},
    "mpnet": {**SMALL, "num_hidden_layers": 2, "max_position_embeddings": 66},
    "t5": {"d_model": 32, "num_layers": 2, "num_heads": 4, "d_ff": 64, "d_kv": 8,
           "vocab_size": 30522},
}


def _recipe(tmp_path, encoder: str, extra_train: str = "") -> str:
    (tmp_path / "train.jsonl").write_text('{"text": "a", "label": "neg"}\n')
    path = tmp_path / "r.yaml"
    path.write_text(f"""etdecl: 1
name: enc
data: {{train: {{path: train.jsonl}}, max_length: 32}}
encoders:
  enc: {encoder}
heads:
  cls: {{type: classify, input: enc, labels: [neg, pos], dropout: 0.0}}
train: {{lr: 1.0e-3{extra_train}}}
""")
    return str(path)


def _flow(mapping: dict) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in mapping.items()) + "}"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_transformer_families_build_and_train(tmp_path, family):
    config = _flow({"model_type": family, **FAMILIES[family]})
    recipe = _recipe(tmp_path, f"{{type: hf, tokenizer: minilm-l6, pooling: mean, "
                               f"config: {config}}}")
    loaded = load_recipe(recipe, check_data=False)
    compiled = compile_recipe(loaded)
    model = compiled.model
    tok = compiled.tokenizer(["a great film", "a dull film", "moving", "tedious plot"],
                             padding=True, return_tensors="pt")
    batch = {**tok, "cls.label": torch.tensor([1, 0, 1, 0])}
    opt = torch.optim.AdamW(param_groups(model, loaded.recipe))
    losses = []
    for _ in range(8):
        loss = model(**batch)["cls.loss"].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], (family, losses)


def test_frozen_embeddings_and_bottom_layers_are_left_out(tmp_path):
    config = _flow({"model_type": "bert", **FAMILIES["bert"], "num_hidden_layers": 3})
    recipe = _recipe(tmp_path, f"{{type: hf, tokenizer: minilm-l6, freeze_embeddings: true, "
                               f"freeze_layers: 2, config: {config}}}")
    loaded = load_recipe(recipe, check_data=False)
    model = compile_recipe(loaded).model
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(".embeddings." in n or ".layer.0." in n or ".layer.1." in n
                          for n in frozen)
    assert any(".embeddings." in n for n in frozen)
    assert not any(".layer.2." in n for n in frozen)
    grouped = {id(p) for g in param_groups(model, loaded.recipe) for p in g["params"]}
    assert not {id(p) for n, p in model.named_parameters() if n in frozen} & grouped


def test_layer_wise_lr_decay(tmp_path):
    config = _flow({"model_type": "bert", **FAMILIES["bert"]})
    recipe = _recipe(tmp_path, f"{{type: hf, tokenizer: minilm-l6, layer_lr_decay: 0.5, "
                               f"config: {config}}}")
    loaded = load_recipe(recipe, check_data=False)
    model = compile_recipe(loaded).model
    lr_of = {}
    for g in param_groups(model, loaded.recipe):
        for p in g["params"]:
            lr_of[id(p)] = g["lr"]
    named = dict(model.named_parameters())
    lr = loaded.recipe.train.lr
    assert lr_of[id(named["heads.cls.proj.weight"])] == pytest.approx(lr)
    top = "encoders.enc.backbone.encoder.layer.1.output.dense.weight"
    assert lr_of[id(named[top])] == pytest.approx(lr * 0.5)
    bottom = "encoders.enc.backbone.encoder.layer.0.output.dense.weight"
    assert lr_of[id(named[bottom])] == pytest.approx(lr * 0.25)
    emb = "encoders.enc.backbone.embeddings.word_embeddings.weight"
    assert lr_of[id(named[emb])] == pytest.approx(lr * 0.125)


@pytest.mark.parametrize("kind", ["textcnn", "bilstm"])
def test_small_encoders_copy_minilm_embeddings(tmp_path, kind):
    from safetensors import safe_open

    from etdecl.recipe.aliases import resolve_model

    recipe = _recipe(tmp_path, f"{{type: {kind}, tokenizer: minilm-l6, embeddings: pretrained}}")
    model = compile_recipe(load_recipe(recipe, check_data=False)).model
    emb = model.encoders["enc"].embedding.weight
    with safe_open(str(resolve_model("minilm-l6") / "model.safetensors"), "pt") as f:
        key = next(k for k in f.keys() if k.endswith("word_embeddings.weight"))  # noqa: SIM118
        assert torch.equal(f.get_tensor(key)[: emb.shape[0]], emb.detach())
    assert emb.shape[1] == 384
