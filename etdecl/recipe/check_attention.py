"""Checks of `encoders.*.attention`: random sparse attention (rsa) needs a BERT-family model,
a block pattern that fits `data.max_length`, and a plan that leaves the attention layers whole.

Torch-free: the model type comes from the recipe's `config:` or the model's config.json.
"""

from __future__ import annotations

from collections.abc import Iterator

from .check import _err, check, set_off_default
from .errors import Problem
from .loaded import LoadedRecipe

RSA_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "camembert", "electra")
"""Model types whose self-attention has BERT's layout (query/key/value linears, absolute
positions), so etdecl.components.sparse_attention can reuse its weights unchanged."""
RSA_KEYS = ("block", "random_blocks", "local_blocks", "seed")


def _rsa_encoders(lr: LoadedRecipe) -> Iterator[tuple[str, object]]:
    for name, enc in lr.recipe.encoders.items():
        if enc.type == "hf" and enc.attention.type == "rsa":
            yield name, enc


@check
def rsa_options_need_rsa(lr: LoadedRecipe) -> Iterator[Problem]:
    """Block options under `type: dense` do nothing: say so rather than ignore them."""
    for name, enc in lr.recipe.encoders.items():
        if enc.type != "hf" or enc.attention.type != "dense":
            continue
        for key in RSA_KEYS:
            path = ("encoders", name, "attention", key)
            if set_off_default(lr, path, enc.attention):
                yield _err(lr, path, f"`{key}` only applies to `attention: {{type: rsa}}`",
                           severity="warning")


@check
def rsa_fits_the_model(lr: LoadedRecipe) -> Iterator[Problem]:
    """rsa replaces BERT-style self-attention (query/key/value, absolute positions)."""
    from .modelinfo import encoder_shape

    for name, enc in _rsa_encoders(lr):
        key = "model" if enc.model is not None else "config"
        shape = encoder_shape(enc, lr.origin_dir("encoders", name, key), lr)
        if shape is None:
            continue
        if shape.model_type not in RSA_MODEL_TYPES:
            yield _err(lr, ("encoders", name, "attention", "type"), f"random sparse attention "
                       f"replaces BERT-style self-attention; encoder '{name}' is a "
                       f"'{shape.model_type}' model", expected="a model of type "
                       + ", ".join(RSA_MODEL_TYPES), found=f"'{shape.model_type}'",
                       hint="use `type: dense` for this encoder")
        raw = enc.config or {}
        if raw.get("position_embedding_type", "absolute") != "absolute":
            yield _err(lr, ("encoders", name, "attention", "type"), "random sparse attention "
                       "needs absolute position embeddings",
                       found=f"position_embedding_type '{raw['position_embedding_type']}'")


@check
def rsa_blocks_fit_max_length(lr: LoadedRecipe) -> Iterator[Problem]:
    """Sequences of up to data.max_length tokens make ceil(max_length / block) blocks; the
    local and random blocks each query attends must fit in them, or the pattern is dense."""
    longest = lr.recipe.data.max_length
    for name, enc in _rsa_encoders(lr):
        a = enc.attention
        base = ("encoders", name, "attention")
        if a.block >= longest:
            yield _err(lr, (*base, "block"), f"a block of {a.block} tokens holds a whole "
                       f"sequence of data.max_length ({longest}): attention would be dense",
                       expected=f"less than {longest}, e.g. {max(1, longest // 8)}",
                       found=str(a.block))
            continue
        n_blocks = -(-longest // a.block)
        if a.local_blocks + a.random_blocks > n_blocks:
            key = "random_blocks" if (*base, "random_blocks") in lr.tree.values else \
                "local_blocks"
            yield _err(lr, (*base, key), f"local_blocks + random_blocks "
                       f"({a.local_blocks} + {a.random_blocks}) is more than the {n_blocks} "
                       f"blocks of a {longest}-token sequence (data.max_length / block)",
                       expected=f"at most {n_blocks} together",
                       hint="use fewer blocks, a smaller block, or `type: dense`")


@check
def rsa_not_with_tp_or_pp(lr: LoadedRecipe) -> Iterator[Problem]:
    """Tensor and pipeline parallelism rewrite the attention layers through ColossalAI's BERT
    policy, which knows nothing of rsa."""
    p = lr.recipe.parallel
    if p.tp == 1 and p.pp == 1:
        return
    what = "tp" if p.tp > 1 else "pp"
    for name, _ in _rsa_encoders(lr):
        yield _err(lr, ("encoders", name, "attention", "type"), f"random sparse attention "
                   f"cannot be split with {what} > 1 (parallel.{what} = {getattr(p, what)})",
                   expected="type: dense, or parallel.tp = parallel.pp = 1",
                   hint="shard with plugin 'zero' or 'gemini' instead")
