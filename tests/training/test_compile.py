"""Compiling recipes into module graphs: tiny random models, pooling, pretrained aliases."""

from __future__ import annotations

import pytest
import torch

from etdecl.compile import compile_recipe
from etdecl.components.encoders import ENCODERS
from etdecl.engine.methods import METHODS
from etdecl.recipe import load_recipe
from etdecl.recipe.registry import ENCODER_TYPES, HEAD_TYPES, METHOD_TYPES
from etdecl.recipe.schema import Recipe
from etdecl.recipe.validate import type_names
from etdecl.tasks.registry import TASKS


def test_every_schema_type_has_a_builder_and_back():
    """The recipe's unions come from the torch-free registries; each name has a builder."""
    assert sorted(type_names(Recipe.model_fields["encoders"].annotation.__args__[1])) == \
        sorted(ENCODER_TYPES.names()) == ENCODERS.names()
    assert sorted(type_names(Recipe.model_fields["heads"].annotation.__args__[1])) == \
        sorted(HEAD_TYPES.names()) == sorted(TASKS)
    assert sorted(METHOD_TYPES.names()) == sorted(METHODS)


def test_task_metadata_matches_the_recipe_side():
    for name, task in TASKS.items():
        cfg = HEAD_TYPES.get(name)
        assert (task.roles, task.target_roles, task.token_level, task.metric_names) == \
            (cfg.ROLES, cfg.TARGET_ROLES, cfg.TOKEN_LEVEL, cfg.METRICS)
        assert task.primary_metric == cfg.METRICS[0]


def test_registry_refuses_a_second_builder_of_the_same_name():
    with pytest.raises(ValueError, match="registered twice"):
        ENCODERS.register("hf")(lambda cfg, base: None)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_tiny_random_model_compiles_and_runs(tiny_recipe, pooling):
    compiled = compile_recipe(load_recipe(tiny_recipe(pooling=pooling)))
    model = compiled.model
    enc = model.encoders["enc"]
    assert enc.backbone.config.num_hidden_layers == 2 and enc.hidden_size == 32
    assert enc.pooling == pooling
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == sum(p.numel() for p in enc.parameters()) + 32 * 2 + 2
    batch = compiled.tokenizer(["a fine film", "dull"], ["x", "y"], padding=True,
                               return_tensors="pt")
    out = model(**batch)
    assert out["cls.logits"].shape == (2, 2) and torch.isfinite(out["cls.logits"]).all()
    assert "cls.loss" not in out  # no targets in the batch, no loss
    out = model(**batch, **{"cls.label": torch.tensor([0, 1])})
    assert out["cls.loss"].shape == (2,)
    assert compiled.tasks["cls"].labels == ["neg", "pos"]


def test_mean_pooling_ignores_padding(tiny_recipe):
    model = compile_recipe(load_recipe(tiny_recipe(pooling="mean", dropout=0.0))).model.eval()
    ids = torch.tensor([[101, 2307, 102]])
    padded = torch.tensor([[101, 2307, 102, 0, 0]])
    enc = model.encoders["enc"]
    with torch.no_grad():
        a = enc(ids, torch.ones_like(ids)).pooled
        b = enc(padded, torch.tensor([[1, 1, 1, 0, 0]])).pooled
    assert torch.allclose(a, b, atol=1e-5)


def test_pretrained_alias_loads_real_weights():
    compiled = compile_recipe(load_recipe("recipes/quickstart.yaml", check_data=False))
    backbone = compiled.model.encoders["plm"].backbone
    assert backbone.config.hidden_size == 384 and backbone.config.num_hidden_layers == 6
    # real weights, not a random init: the word embeddings of the packaged file
    from safetensors import safe_open

    from etdecl.recipe.aliases import resolve_model

    with safe_open(str(resolve_model("minilm-l6") / "model.safetensors"), "pt") as f:
        key = next(k for k in f.keys() if k.endswith("word_embeddings.weight"))  # noqa: SIM118
        assert torch.equal(f.get_tensor(key), backbone.embeddings.word_embeddings.weight)


def test_tokenizer_larger_than_model_vocab_is_refused(tiny_recipe):
    path = tiny_recipe()
    from etdecl.recipe.errors import RecipeError

    with pytest.raises(RecipeError, match="vocab_size") as info:
        compile_recipe(load_recipe(path, ["encoders.enc.config.vocab_size=1000"]))
    [problem] = info.value.problems
    assert problem.path == "encoders.enc.config"
