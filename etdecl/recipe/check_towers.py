"""Checks of the recipe's `towers:`: what each tower reads, cycles, domains, and what each
private copy needs of its encoder. Torch-free, so `validate` refuses a tower graph that could
not be built, or data it could not route, before anything loads."""

from __future__ import annotations

from collections.abc import Iterator

from .check import _err, check, set_off_default
from .datasets import dataset_heads, datasets
from .errors import Problem, did_you_mean, one_of
from .loaded import LoadedRecipe

TOP_COPY_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "camembert", "electra")
"""Model types whose layers sit in `encoder.layer` with BERT's layout (copy: top); the same
family random sparse attention reaches into (check_attention.RSA_MODEL_TYPES)."""
_KEYS = ("input", "shared", "private")


def _reads(tower) -> list[tuple[str, str]]:
    """(recipe key, node) pairs a tower reads."""
    return [(k, getattr(tower, k)) for k in _KEYS if isinstance(getattr(tower, k, None), str)]


def _domain_aware(tower) -> bool:
    """Routes rows by domain or reads domain labels (also on a partial recipe, whose
    components are field bags without the config classes' methods)."""
    return tower.type in ("private", "drss") or (
        tower.type == "shared_private" and getattr(tower, "adversarial", None) is not None)


def _needs_domains(lr: LoadedRecipe, name: str, seen: frozenset = frozenset()) -> str | None:
    """The domain-aware tower `name` reads, itself included (None: none)."""
    towers = lr.recipe.towers
    if name not in towers or name in seen:
        return None
    if _domain_aware(towers[name]):
        return name
    for _, node in _reads(towers[name]):
        found = _needs_domains(lr, node, seen | {name})
        if found:
            return found
    return None


@check
def tower_names_are_free(lr: LoadedRecipe) -> Iterator[Problem]:
    """Heads name encoders and towers alike, so a tower cannot take an encoder's name."""
    for name in lr.recipe.towers:
        if name in lr.recipe.encoders:
            yield _err(lr, ("towers", name), f"tower '{name}' has the name of an encoder",
                       hint="rename one: heads read nodes by name")


@check
def tower_inputs_exist(lr: LoadedRecipe) -> Iterator[Problem]:
    """A tower reads declared nodes; a private tower copies or reads an encoder."""
    encoders, towers = lr.recipe.encoders, lr.recipe.towers
    names = [*encoders, *towers]
    for name, tower in towers.items():
        for key, node in _reads(tower):
            if node not in names:
                yield _err(lr, ("towers", name, key), f"tower '{name}' reads '{node}', which "
                           "is not a declared encoder or tower", expected=one_of(names),
                           hint=did_you_mean(node, names))
            elif tower.type == "private" and node not in encoders:
                yield _err(lr, ("towers", name, key), f"private tower '{name}' copies or reads "
                           f"an encoder, and '{node}' is a tower", expected=one_of(encoders))


@check
def towers_form_no_cycle(lr: LoadedRecipe) -> Iterator[Problem]:
    """Towers are evaluated in dependency order, so none may read itself through others."""
    towers = lr.recipe.towers
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for _, node in _reads(towers[name]):
            if node not in towers:
                continue
            if state.get(node) == 1:
                full = [*path, name]
                cycles.append(full[full.index(node):])
            elif node not in state:
                visit(node, [*path, name])
        state[name] = 2

    for name in towers:
        if name not in state:
            visit(name, [])
    for cycle in cycles:
        last, first = cycle[-1], cycle[0]
        key = next(k for k, n in _reads(towers[last]) if n == first)
        yield _err(lr, ("towers", last, key), "towers read each other in a cycle: "
                   f"{' → '.join([*cycle, first])}",
                   hint="a tower reads encoders, or towers that do not read it")


@check
def private_copies_fit_the_encoder(lr: LoadedRecipe) -> Iterator[Problem]:
    """`top` copies BERT-family layers (fewer than the encoder has); `top` and `small` read
    an `hf` encoder's layers or embedding output; `small` needs its encoder described."""
    from .modelinfo import encoder_shape

    for name, tower in lr.recipe.towers.items():
        if tower.type != "private":
            continue
        base = ("towers", name)
        if tower.copy == "small" and tower.small is None:
            yield _err(lr, (*base, "copy"), "copy: small needs the per-domain encoder under "
                       "`small:`", hint="e.g. small: {type: textcnn}")
        if tower.copy != "small" and tower.small is not None:
            yield _err(lr, (*base, "small"), "`small` only applies to copy: small",
                       found=f"copy: {tower.copy}")
        if tower.copy != "top" and set_off_default(lr, (*base, "top_layers"), tower):
            yield _err(lr, (*base, "top_layers"), "`top_layers` only applies to copy: top",
                       found=f"copy: {tower.copy}")
        enc = lr.recipe.encoders.get(tower.input)
        if enc is None or tower.copy == "full":
            continue
        if enc.type != "hf":
            yield _err(lr, (*base, "copy"), f"copy: {tower.copy} reads the transformer "
                       f"layers of an hf encoder; '{tower.input}' is a {enc.type} encoder",
                       hint="use copy: full")
            continue
        if tower.copy != "top":
            continue
        key = "model" if enc.model is not None else "config"
        shape = encoder_shape(enc, lr.origin_dir("encoders", tower.input, key), lr)
        if shape is None:
            continue
        if shape.model_type not in TOP_COPY_MODEL_TYPES:
            yield _err(lr, (*base, "copy"), f"copy: top copies BERT-family layers; encoder "
                       f"'{tower.input}' is a '{shape.model_type}' model",
                       expected=f"a model among {', '.join(TOP_COPY_MODEL_TYPES)}",
                       hint="use copy: full or copy: small")
        elif tower.top_layers >= shape.layers:
            yield _err(lr, (*base, "top_layers"), f"encoder '{tower.input}' has "
                       f"{shape.layers} layers; copying {tower.top_layers} leaves none shared",
                       expected=f"1 to {shape.layers - 1}", found=str(tower.top_layers),
                       hint="use copy: full to copy the whole encoder")


def _domain_key(tower) -> str:
    return "adversarial" if tower.type == "shared_private" else "type"


@check
def domain_towers_have_domains(lr: LoadedRecipe) -> Iterator[Problem]:
    """Private and DRSS towers (and adversaries) build one part per declared domain; the
    data of every head reading them must say each row's domain, among `data.domains`."""
    recipe = lr.recipe
    declared = recipe.data.domains
    for name, tower in recipe.towers.items():
        if _domain_aware(tower) and not declared:
            what = "an adversarial part" if tower.type == "shared_private" else \
                f"a {tower.type} tower"
            yield _err(lr, ("towers", name, _domain_key(tower)), f"tower '{name}' has {what}, "
                       "which needs the domains declared", expected="data.domains: [names]",
                       hint="e.g. data.domains: [books, dvd, electronics, kitchen]")
    views = datasets(recipe)
    for ds, heads in dataset_heads(recipe).items():
        view = views[ds]
        for head in heads:
            cfg = recipe.heads[head]
            nodes = [cfg.input] if isinstance(cfg.input, str) else list(cfg.input)
            tower = next((t for n in nodes if (t := _needs_domains(lr, n))), None)
            if tower is None:
                continue
            if view.fields.domain is None and view.domain is None:
                yield _err(lr, ("heads", head, "input"), f"head '{head}' reads tower "
                           f"'{tower}', which needs each row's domain, but dataset '{ds}' "
                           "has none", expected="data.fields.domain (a field of the rows) "
                           "or a dataset `domain:`")
            # a dataset `domain:` outside data.domains: check_domains reports it
            break


@check
def towers_are_read(lr: LoadedRecipe) -> Iterator[Problem]:
    used = {n for h in lr.recipe.heads.values()
            for n in ([h.input] if isinstance(h.input, str) else h.input)}
    used |= {n for t in lr.recipe.towers.values() for _, n in _reads(t)}
    for name in lr.recipe.towers:
        if name not in used:
            yield Problem(f"tower '{name}' is declared but nothing reads it",
                          loc=lr.where("towers", name), path=f"towers.{name}",
                          severity="warning")


@check
def towers_are_not_split(lr: LoadedRecipe) -> Iterator[Problem]:
    """Tensor and pipeline parallelism split one encoder's layers; towers run beside it."""
    p = lr.recipe.parallel
    if not lr.recipe.towers or (p.tp == 1 and p.pp == 1):
        return
    what = "tp" if p.tp > 1 else "pp"
    yield _err(lr, ("parallel", what), f"{what} > 1 splits one encoder's layers; this graph "
               "has towers", hint="use plugin 'ddp', 'zero' or 'gemini'")
