"""Checks of the model graph a recipe declares: which nodes heads read, which datasets train
which heads, what each task needs from its inputs, and the metric that selects checkpoints.

All from the recipe (and model configs read without torch), so a graph that could not be built
is refused in `validate`, located at the key to change.
"""

from __future__ import annotations

from collections.abc import Iterator

from .aliases import MODEL_ALIASES, alias_hint, is_alias_like, looks_like_hub_id, resolve_model
from .check import _err, check
from .datasets import dataset_heads, datasets
from .errors import Problem, did_you_mean, one_of
from .loaded import LoadedRecipe
from .registry import config_class


def _case_hint(name: str, names: list[str]) -> str | None:
    same = [n for n in names if n.lower() == name.lower()]
    if same:
        return f"did you mean '{same[0]}'? (names are case-sensitive)"
    return did_you_mean(name, names)


def _inputs(head) -> list[str]:
    return [head.input] if isinstance(head.input, str) else list(head.input)


@check
def head_inputs_exist(lr: LoadedRecipe) -> Iterator[Problem]:
    """Every head reads nodes the recipe declares."""
    names = [*lr.recipe.encoders, *lr.recipe.towers]
    what = "encoder or tower" if lr.recipe.towers else "encoder"
    for head_name, head in lr.recipe.heads.items():
        listed = not isinstance(head.input, str)
        for i, node in enumerate(_inputs(head)):
            if node not in names:
                at = ("heads", head_name, "input", *((i,) if listed else ()))
                yield _err(lr, at, f"head '{head_name}' reads '{node}', which is not a declared "
                           f"{what}", expected=one_of(names), hint=_case_hint(node, names))


@check
def head_data_exists(lr: LoadedRecipe) -> Iterator[Problem]:
    """`heads.*.data` names declared datasets; with several datasets every head names its own."""
    sets = datasets(lr.recipe)
    names = list(sets)
    for head_name, head in lr.recipe.heads.items():
        if head.data is None:
            if len(sets) > 1:
                yield _err(lr, ("heads", head_name), f"head '{head_name}' does not say which "
                           "dataset trains it", expected=f"data: {one_of(names)}",
                           hint=f"add `data: {names[0]}`")
            continue
        listed = not isinstance(head.data, str)
        for i, name in enumerate([head.data] if not listed else head.data):
            if name not in sets:
                at = ("heads", head_name, "data", *((i,) if listed else ()))
                what = "names of data.sets" if lr.recipe.data.sets else \
                    "nothing: this recipe has one dataset (omit `data:` or declare data.sets)"
                yield _err(lr, at, f"head '{head_name}' reads dataset '{name}', which is not "
                           "declared", expected=one_of(names) if lr.recipe.data.sets else what,
                           hint=_case_hint(name, names) if lr.recipe.data.sets else None)


@check
def every_dataset_is_read(lr: LoadedRecipe) -> Iterator[Problem]:
    """A dataset no head reads would be loaded and never used: surely a slip."""
    if not lr.recipe.data.sets:
        return
    for name, heads in dataset_heads(lr.recipe).items():
        if not heads:
            yield _err(lr, ("data", "sets", name), f"no head reads dataset '{name}'",
                       expected="a head with `data: " + name + "`",
                       hint="add it to a head's `data:` list, or remove the set")


@check
def heads_of_a_dataset_agree(lr: LoadedRecipe) -> Iterator[Problem]:
    """Heads sharing a dataset tokenise it once, so they must read it the same way."""
    for name, heads in dataset_heads(lr.recipe).items():
        kinds = {h: lr.recipe.heads[h].type for h in heads}
        modes = {h: getattr(lr.recipe.heads[h], "mode", None) for h in heads}
        first = heads[0] if heads else None
        for h in heads[1:]:
            if kinds[h] != kinds[first] or modes[h] != modes[first]:
                yield _err(lr, ("heads", h, "type"), f"heads '{first}' ({kinds[first]}) and "
                           f"'{h}' ({kinds[h]}) both read dataset '{name}', which is tokenised "
                           "once for one task type", expected=f"type {kinds[first]}",
                           hint="give each task its own dataset under data.sets")


@check
def labels_unique_and_named(lr: LoadedRecipe) -> Iterator[Problem]:
    for head_name, head in lr.recipe.heads.items():
        seen: dict[str, int] = {}
        for i, label in enumerate(getattr(head, "labels", None) or []):
            path = ("heads", head_name, "labels", i)
            if not label.strip():
                yield _err(lr, path, "labels must be non-empty", found="an empty label")
            elif label in seen:
                yield _err(lr, path, f"label '{label}' is listed twice",
                           hint=f"first at position {seen[label]}")
            else:
                seen[label] = i


@check
def tag_labels_fit_the_scheme(lr: LoadedRecipe) -> Iterator[Problem]:
    """A tag head's labels are `O` and PREFIX-TYPE tags of its scheme."""
    from .tag_schemes import split_tag

    for head_name, head in lr.recipe.heads.items():
        if head.type != "tag":
            continue
        prefixes = {"bio": "BI", "bioes": "BIES"}[head.scheme]
        for i, label in enumerate(head.labels):
            try:
                prefix, _ = split_tag(label)
            except ValueError as err:
                yield _err(lr, ("heads", head_name, "labels", i), str(err),
                           expected="O, B-TYPE, I-TYPE" + (", E-TYPE, S-TYPE"
                                                           if head.scheme == "bioes" else ""))
                continue
            if prefix != "O" and prefix not in prefixes:
                yield _err(lr, ("heads", head_name, "labels", i), f"tag '{label}' has prefix "
                           f"{prefix}, which scheme {head.scheme.upper()} lacks",
                           hint="set `scheme: bioes`" if prefix in "ES" else None)


@check
def task_options_fit(lr: LoadedRecipe) -> Iterator[Problem]:
    """Options of one task that depend on others: cosine matching scores two labels; a span
    window must be longer than its overlap."""
    for head_name, head in lr.recipe.heads.items():
        if head.type == "match" and head.mode == "siamese" and head.similarity == "cosine" \
                and len(head.labels) != 2:
            yield _err(lr, ("heads", head_name, "similarity"), "cosine similarity scores a "
                       "pair as matching or not: it needs exactly two labels",
                       found=f"{len(head.labels)} labels", hint="use `similarity: concat`")
        if head.type == "match" and head.mode == "cross" and (
                ("heads", head_name, "similarity") in lr.tree.values):
            yield Problem("`similarity` only applies to `mode: siamese`",
                          loc=lr.where("heads", head_name, "similarity"),
                          path=f"heads.{head_name}.similarity", severity="warning")
        if head.type == "span" and head.doc_stride >= lr.recipe.data.max_length // 2:
            yield _err(lr, ("heads", head_name, "doc_stride"), f"windows of data.max_length "
                       f"({lr.recipe.data.max_length}) tokens cannot overlap by "
                       f"{head.doc_stride}: the question takes part of each window",
                       expected=f"less than {lr.recipe.data.max_length // 2}",
                       found=str(head.doc_stride))


def _tokenizer_of(enc) -> str | None:
    return enc.tokenizer or getattr(enc, "model", None)


@check
def token_heads_read_one_tokenizer(lr: LoadedRecipe) -> Iterator[Problem]:
    """Tag and span heads read per-token states: all their inputs must cut text into the same
    word pieces, or the states do not line up."""
    for head_name, head in lr.recipe.heads.items():
        if not config_class(head).TOKEN_LEVEL:
            continue
        inputs = [n for n in _inputs(head) if n in lr.recipe.encoders]
        toks = {n: _tokenizer_of(lr.recipe.encoders[n]) for n in inputs}
        if len(set(toks.values())) > 1:
            listed = ", ".join(f"'{n}' ({t})" for n, t in toks.items())
            yield _err(lr, ("heads", head_name, "input"), f"head '{head_name}' ({head.type}) "
                       f"needs token states aligned to one tokenizer, but its inputs use "
                       f"different ones: {listed}", expected="inputs sharing one tokenizer",
                       hint="read one encoder, or encoders with the same tokenizer")


@check
def metric_names_a_head_metric(lr: LoadedRecipe) -> Iterator[Problem]:
    """`train.metric` is `HEAD.METRIC` (or `METRIC` with one head) of a declared head."""
    metric = lr.recipe.train.metric
    if metric is None:
        return
    heads = list(lr.recipe.heads)
    head, dot, name = metric.partition(".")
    if not dot:
        head, name = heads[0], metric
        if len(heads) > 1:
            yield _err(lr, ("train", "metric"), f"with {len(heads)} heads, say whose metric "
                       "selects the best checkpoint", expected="HEAD.METRIC",
                       hint=f"e.g. {heads[0]}.{metric}")
            return
    if head not in lr.recipe.heads:
        yield _err(lr, ("train", "metric"), f"train.metric names head '{head}', which is not "
                   "declared", expected=one_of(heads), hint=_case_hint(head, heads))
        return
    allowed = list(config_class(lr.recipe.heads[head]).METRICS)
    base = name.split("[")[0]
    if base not in allowed:
        yield _err(lr, ("train", "metric"), f"'{base}' is not a metric of head '{head}' "
                   f"({lr.recipe.heads[head].type})", expected=one_of(allowed),
                   hint=_case_hint(base, allowed))


@check
def encoder_sources(lr: LoadedRecipe) -> Iterator[Problem]:
    """`hf`: `model` or `config`, never both, config needs a tokenizer; every model and
    tokenizer name is a registered alias or a folder."""
    for name, enc in lr.recipe.encoders.items():
        base = ("encoders", name)
        keys = ("tokenizer",)
        if enc.type == "hf":
            keys = ("model", "tokenizer")
            if enc.model is not None and enc.config is not None:
                yield _err(lr, (*base, "config"), "set either 'model' or 'config', not both")
            if enc.model is None and enc.config is None and enc.from_teacher is None:
                yield _err(lr, base, f"encoder '{name}' needs 'model' (pretrained) or 'config' "
                           "(random init)")
            if enc.config is not None:
                if "model_type" not in enc.config:
                    yield _err(lr, (*base, "config"), "'config' must name a 'model_type'",
                               expected="e.g. model_type: bert")
                if enc.tokenizer is None:
                    yield _err(lr, (*base, "config"), "a random-initialised encoder needs "
                               "'tokenizer' (a folder or alias)", hint="e.g. tokenizer: minilm-l6")
            if enc.trust_remote_code:
                yield Problem("trust_remote_code is on: code shipped with the model will run",
                              loc=lr.where(*base, "trust_remote_code"),
                              path=f"encoders.{name}.trust_remote_code", severity="warning")
        else:
            if enc.embeddings == "random" and enc.embedding_dim is None:
                yield _err(lr, base, f"encoder '{name}' with random embeddings needs "
                           "'embedding_dim'", hint="e.g. embedding_dim: 128, or "
                           "embeddings: pretrained to copy the tokenizer model's")
            if enc.embeddings == "pretrained" and enc.embedding_dim is not None:
                yield _err(lr, (*base, "embedding_dim"), "pretrained embeddings take the "
                           "model's width", hint="drop embedding_dim")
        for key in keys:
            value = getattr(enc, key)
            if value is None:
                continue
            base_dir = lr.origin_dir(*base, key)
            if (is_alias_like(value) and value not in MODEL_ALIASES
                    and not (base_dir / value).is_dir()):
                yield _err(lr, (*base, key), f"unknown model alias '{value}'",
                           expected=one_of(MODEL_ALIASES) + " or a folder path",
                           hint=alias_hint(value))
                continue
            if looks_like_hub_id(value) and not (base_dir / value).is_dir():
                continue  # model_is_not_a_hub_id (check_fit.py) says what to do
            try:
                resolve_model(value, base_dir, unpack=False)
            except LookupError as err:
                yield Problem(str(err), loc=lr.where(*base, key), path=f"encoders.{name}.{key}",
                              severity="warning")


@check
def encoders_used(lr: LoadedRecipe) -> Iterator[Problem]:
    used = {n for h in lr.recipe.heads.values() for n in _inputs(h)}
    used |= {getattr(t, k) for t in lr.recipe.towers.values()
             for k in ("input", "shared", "private") if isinstance(getattr(t, k, None), str)}
    for name in lr.recipe.encoders:
        if name not in used:
            yield Problem(f"encoder '{name}' is declared but no head reads it",
                          loc=lr.where("encoders", name), path=f"encoders.{name}",
                          severity="warning")


@check
def sharded_plans_fit_the_graph(lr: LoadedRecipe) -> Iterator[Problem]:
    """Tensor and pipeline parallelism split one BERT-family `hf` encoder: a graph with other
    encoders, or a siamese head (two passes), is sharded with `zero` or `gemini` instead."""
    p = lr.recipe.parallel
    if p.tp == 1 and p.pp == 1:
        return
    what = "tp" if p.tp > 1 else "pp"
    others = [n for n, e in lr.recipe.encoders.items() if e.type != "hf"]
    if len(lr.recipe.encoders) > 1 or others:
        yield _err(lr, ("parallel", what), f"{what} > 1 splits the layers of one `hf` encoder; "
                   f"this graph has {len(lr.recipe.encoders)} encoders",
                   expected="one hf encoder", hint="use plugin 'zero' or 'gemini' to shard it")
        return
    for head_name, head in lr.recipe.heads.items():
        if getattr(head, "mode", None) == "siamese" and p.pp > 1:
            yield _err(lr, ("heads", head_name, "mode"), "a pipeline runs each batch through "
                       "the encoder once; a siamese head needs two passes",
                       hint="use mode: cross, or plugin 'zero'/'gemini'")
