"""Checks of `teachers:`, the distillation methods, `from_teacher`/`layers` encoders and
`stages:`, all without torch: a teacher's shapes, heads and vocabulary come from its files
(`teacherinfo.py`), the student's from its config (`modelinfo.py`).

Static checks (`@check`) read the recipe only. Checks that open a teacher's files are data
checks (`@data_check`: `--no-data` skips them, and loading a finished run does not need its
teachers): a teacher `source` that does not exist yet is a warning (an earlier step may train
it) and the checks that need its shape are skipped; training checks again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .check import _at_key, _err, check, data_check, set_off_default
from .datasets import datasets
from .errors import Problem, did_you_mean, one_of
from .layer_maps import pair_problems
from .loaded import LoadedRecipe
from .modelinfo import EncoderShape, encoder_shape, source_shape
from .schema_teachers import DISTILLING
from .teacherinfo import (
    EncoderInfo,
    TeacherInfo,
    TeacherSourceError,
    source_kind,
    student_encoder_vocab,
    teacher_info,
    teacher_path,
)

REPRESENTATION = ("pkd", "tinybert", "minilm")
"""Objectives that read encoder layers on both sides (hf encoders)."""


# ── helpers ──────────────────────────────────────────────────────────────────────────────────


def student_encoder(lr: LoadedRecipe, teacher: str) -> str | None:
    """The student encoder a teacher's representation objectives train: `teacher.student`, or
    the recipe's only `hf` encoder, or the encoder its first head reads."""
    t = lr.recipe.teachers[teacher]
    if t.student is not None:
        return t.student
    hf = [n for n, e in lr.recipe.encoders.items() if e.type == "hf"]
    if len(hf) == 1:
        return hf[0]
    for head in lr.recipe.heads.values():
        return next((n for n in head.inputs() if n in lr.recipe.encoders), None)
    return None


def objective_sets(lr: LoadedRecipe) -> Iterator[tuple[str, Any, tuple]]:
    """(teacher, objectives, path of the objectives) declared under `teachers:` and in each
    stage (for declared teachers)."""
    for name, t in lr.recipe.teachers.items():
        yield name, t.objectives, ("teachers", name, "objectives")
    for i, stage in enumerate(lr.recipe.stages):
        for name, objs in (stage.objectives or {}).items():
            if name in lr.recipe.teachers:
                yield name, objs, ("stages", i, "objectives", name)


def _needs_heads(objs: Any) -> list[str]:
    """The objectives of a set that read the teacher's heads."""
    out = ["logits"] if objs.logits is not None else []
    if objs.tinybert is not None and "prediction" in objs.tinybert.parts:
        out.append("tinybert")
    return out


def student_shape(lr: LoadedRecipe, name: str) -> EncoderShape | None:
    enc = lr.recipe.encoders.get(name)
    if enc is None or enc.type != "hf":
        return None
    key = "model" if enc.model is not None else "config"
    return encoder_shape(enc, lr.origin_dir("encoders", name, key), lr)


def _info(lr: LoadedRecipe, name: str) -> TeacherInfo | None:
    try:
        return teacher_info(lr, name)
    except (TeacherSourceError, KeyError):
        return None  # teacher_sources_are_readable reports it


def _teacher_encoder(lr: LoadedRecipe, name: str, info: TeacherInfo) -> EncoderInfo | None:
    chosen = lr.recipe.teachers[name].encoder
    if info.kind == "model" or chosen is None:
        chosen = info.default_encoder()
    return info.encoders.get(chosen) if chosen else None


def _has_domains(lr: LoadedRecipe) -> bool:
    return any(v.fields.domain or v.domain is not None for v in datasets(lr.recipe).values())


# ── static checks ────────────────────────────────────────────────────────────────────────────


@check
def teachers_have_one_source(lr: LoadedRecipe) -> Iterator[Problem]:
    """A teacher is a run or bundle (`source`) or a bare pretrained encoder (`model`)."""
    for name, t in lr.recipe.teachers.items():
        base = ("teachers", name)
        if t.source is None and t.model is None:
            yield _at_key(lr, base, f"teacher '{name}' needs 'source' (a finished run "
                          "directory or bundle) or 'model' (a pretrained encoder)",
                          hint="e.g. source: runs/teacher-run")
        if t.source is not None and t.model is not None:
            yield _err(lr, (*base, "model"), "set either 'source' or 'model', not both")
        if t.model is not None and set_off_default(lr, (*base, "checkpoint"), t):
            yield _err(lr, (*base, "checkpoint"), "a `model:` teacher has no checkpoints",
                       hint="drop checkpoint, or use source: a run directory")
        if t.model is not None and t.encoder is not None:
            yield _err(lr, (*base, "encoder"), "a `model:` teacher is one bare encoder; "
                       "'encoder' picks one of a run's or bundle's encoders",
                       hint="drop encoder")
        taught = t.objectives.names() or any(
            (stage.objectives or {}).get(name) is not None and stage.objectives[name].names()
            for stage in lr.recipe.stages)
        extracted = any(getattr(e, "from_teacher", None) == name
                        for e in lr.recipe.encoders.values())
        if not taught and not extracted and (t.source is not None or t.model is not None):
            yield _at_key(lr, base, f"teacher '{name}' teaches nothing: it has no objectives, "
                          "here or in any stage", severity="warning",
                          hint="e.g. objectives: {logits: {temperature: 2.0}}")
        if t.student is not None and t.student not in lr.recipe.encoders:
            yield _err(lr, (*base, "student"), f"student encoder '{t.student}' is not declared",
                       expected=one_of(lr.recipe.encoders),
                       hint=did_you_mean(t.student, lr.recipe.encoders))


@check
def method_fits_the_teachers(lr: LoadedRecipe) -> Iterator[Problem]:
    """`distill` needs teachers and teachers need `distill`; no pipeline or tensor plans;
    MetaKD's weighting and meta-teacher need domains."""
    r = lr.recipe
    method = r.method
    if method.type in DISTILLING and not r.teachers:
        yield _err(lr, ("method", "type"), f"method '{method.type}' needs teachers to learn from",
                   hint="declare them under `teachers:` (a finished run: source: runs/NAME)")
    taught = [n for n, t in r.teachers.items() if t.objectives.names() or any(
        (s.objectives or {}).get(n) is not None and s.objectives[n].names() for s in r.stages)]
    if taught and method.type == "supervised":  # a teacher only a student starts from is fine
        yield _at_key(lr, ("teachers", taught[0]), f"teacher '{taught[0]}' has objectives but "
                      "method 'supervised' ignores them", hint="set `method: {type: distill}`")
    if r.teachers and (r.parallel.pp > 1 or r.parallel.tp > 1):
        which = "pp" if r.parallel.pp > 1 else "tp"
        yield _at_key(lr, ("teachers",), "distillation cannot run with pipeline or tensor "
                      "parallelism (the teacher runs whole beside the student)",
                      found=f"parallel.{which} {getattr(r.parallel, which)}",
                      hint="use plugin 'ddp' or 'zero' (tp 1, pp 1)")
    if method.type in DISTILLING and method.weighting == "domain_expertise":
        at = ("method", "weighting")
        if not _has_domains(lr):
            yield _err(lr, at, "domain_expertise weights each example by its domain, but no "
                       "dataset has domains", expected="data.fields.domain (a field naming each "
                       "row's domain) or a dataset's domain:")
        if r.teachers and all(t.model is not None for t in r.teachers.values()):
            yield _err(lr, at, "domain_expertise needs a teacher with a head (its probability "
                       "of the true label); `model:` teachers are bare encoders",
                       hint="add a teacher with source: a finished run or bundle")
    if method.type == "meta_teacher":
        yield from _meta_teacher_domains(lr)


def _meta_teacher_domains(lr: LoadedRecipe) -> Iterator[Problem]:
    data = lr.recipe.data
    views = datasets(lr.recipe).values()
    if not _has_domains(lr):
        yield _err(lr, ("method", "type"), "the meta-teacher learns across domains, but no "
                   "dataset has domains", expected="data.fields.domain (a field naming each "
                   "row's domain) or a dataset's domain:")
        return
    if data.domains is not None and len(data.domains) < 2:
        yield _err(lr, ("data", "domains"), "the meta-teacher learns across domains: it needs "
                   "at least 2", found=f"{len(data.domains)}")
    elif data.domains is None and not any(v.fields.domain for v in views):
        fixed = {v.domain for v in views if v.domain is not None}
        if len(fixed) < 2:
            yield _err(lr, ("method", "type"), "the meta-teacher learns across domains: it "
                       "needs at least 2", found=f"only {one_of(fixed)[7:]}")


@check
def encoders_from_teachers(lr: LoadedRecipe) -> Iterator[Problem]:
    """`from_teacher` names a declared teacher, instead of `model`/`config`; `layers` picks
    each layer once, within the model's depth (a `from_teacher` depth is a data check)."""
    for name, enc in lr.recipe.encoders.items():
        if enc.type != "hf":
            continue
        base = ("encoders", name)
        if enc.from_teacher is not None:
            if enc.from_teacher not in lr.recipe.teachers:
                yield _err(lr, (*base, "from_teacher"), f"teacher '{enc.from_teacher}' is not "
                           "declared", expected=one_of(lr.recipe.teachers),
                           hint=did_you_mean(enc.from_teacher, lr.recipe.teachers))
            for key in ("model", "config"):
                if getattr(enc, key) is not None:
                    yield _err(lr, (*base, key), f"'{key}' and 'from_teacher' both say where "
                               "the encoder comes from", hint=f"drop {key}: from_teacher takes "
                               "the teacher's config, tokenizer and weights")
        if enc.layers is None:
            continue
        seen: set[int] = set()
        for i, layer in enumerate(enc.layers):
            if layer in seen:
                yield _err(lr, (*base, "layers", i), f"layer {layer} is kept twice",
                           hint="list each layer once")
            seen.add(layer)
        if enc.from_teacher is None:
            key = "model" if enc.model is not None else "config"
            shape = source_shape(enc, lr.origin_dir(*base, key))
            yield from _layers_in_depth(lr, name, enc.layers, shape)


def _layers_in_depth(lr: LoadedRecipe, name: str, layers: list[int],
                     shape: EncoderShape | None) -> Iterator[Problem]:
    if shape is None:
        return
    for i, layer in enumerate(layers):
        if layer >= shape.layers:
            yield _err(lr, ("encoders", name, "layers", i), f"layer {layer} is out of range: "
                       f"the source model has {shape.layers} layers (0-based)",
                       expected=f"0..{shape.layers - 1}", found=str(layer))


@check
def objectives_fit_the_student(lr: LoadedRecipe) -> Iterator[Problem]:
    """What the student side of each objective needs: hf encoders for representation
    objectives, declared student heads for logits, a teacher with heads for predictions."""
    r = lr.recipe
    for teacher, objs, at in objective_sets(lr):
        t = r.teachers[teacher]
        student = student_encoder(lr, teacher)
        for obj in REPRESENTATION:
            if getattr(objs, obj) is None:
                continue
            enc = r.encoders.get(student) if student else None
            if student is None:
                yield _err(lr, (*at, obj), f"'{obj}' needs to know which student encoder it "
                           "trains", hint=f"set teachers.{teacher}.student")
            elif enc is not None and enc.type != "hf":
                yield _err(lr, (*at, obj), f"'{obj}' matches transformer layers, but student "
                           f"encoder '{student}' is a {enc.type} encoder",
                           hint="use logits KD for a small student, or set "
                           f"teachers.{teacher}.student to an hf encoder")
        for obj in _needs_heads(objs):
            if t.model is not None:
                what = "'logits'" if obj == "logits" else "tinybert's 'prediction' part"
                yield _err(lr, (*at, obj), f"{what} needs the teacher's predictions, but "
                           f"teacher '{teacher}' is a bare encoder (`model:`) with no head",
                           hint="use source: a finished run or bundle, or drop it")
        if objs.logits is not None and objs.logits.heads:
            for s_head in objs.logits.heads:
                if s_head not in r.heads:
                    yield _at_key(lr, (*at, "logits", "heads", s_head), f"student head "
                                  f"'{s_head}' is not declared", expected=one_of(r.heads),
                                  hint=did_you_mean(s_head, r.heads))


# ── data checks: the teachers' files ─────────────────────────────────────────────────────────


@data_check
def teacher_sources_are_readable(lr: LoadedRecipe) -> Iterator[Problem]:
    """A `source` is a run or a bundle (not there yet: a warning); a bundle has no `last`
    checkpoint; a `model:` resolves."""
    for name, t in lr.recipe.teachers.items():
        base = ("teachers", name)
        if t.source is not None and t.model is None:
            at = (*base, "source")
            try:
                path = teacher_path(lr, name)
            except KeyError as err:
                yield _err(lr, at, f"environment variable {err.args[0]} is not set and has no "
                           "default", hint="set it, or write `${VAR:-default}`")
                continue
            kind = source_kind(path)
            if kind == "missing":
                yield _err(lr, at, f"teacher source not found (checked at training time): "
                           f"{path}", severity="warning", hint="train the teacher first")
                continue
            if kind == "bundle" and t.checkpoint == "last":
                yield _err(lr, (*base, "checkpoint"), "a bundle holds one set of weights; "
                           "it has no 'last' checkpoint", hint="drop checkpoint: last")
            if kind == "run":
                from .check_init import has_best_weights

                folder = path / "checkpoints" / t.checkpoint
                if not (has_best_weights(path) if t.checkpoint == "best" else folder.exists()):
                    yield _err(lr, at, f"teacher run has no {t.checkpoint} checkpoint yet "
                               f"(checked at training time): {path}", severity="warning")
        elif t.model is None:
            continue
        try:
            teacher_info(lr, name)
        except TeacherSourceError as err:
            yield _err(lr, (*base, "source" if t.model is None else "model"), err.message,
                       expected=err.expected, found=err.found, hint=err.hint)
        except KeyError:
            continue


@data_check
def teachers_fit_the_student(lr: LoadedRecipe) -> Iterator[Problem]:
    """The teacher's encoder and heads exist, vocabularies match, and every objective's layer
    map, widths and head counts fit both models."""
    r = lr.recipe
    infos = {name: _info(lr, name) for name in r.teachers}
    for name, t in r.teachers.items():
        info = infos[name]
        if info is None:
            continue
        base = ("teachers", name)
        if t.encoder is not None and info.kind != "model" and t.encoder not in info.encoders:
            yield _err(lr, (*base, "encoder"), f"the teacher has no encoder '{t.encoder}'",
                       expected=one_of(info.encoders), hint=did_you_mean(t.encoder,
                                                                         info.encoders))
            continue
        yield from _same_vocabulary(lr, name, info)
    for name, objs, at in objective_sets(lr):
        info = infos[name]
        if info is not None:
            yield from _objectives_fit(lr, name, info, objs, at)


def _same_vocabulary(lr: LoadedRecipe, name: str, info: TeacherInfo) -> Iterator[Problem]:
    t_enc = _teacher_encoder(lr, name, info)
    student = student_encoder(lr, name)
    if t_enc is None or student is None or student not in lr.recipe.encoders:
        return
    s_enc = lr.recipe.encoders[student]
    if s_enc.type == "hf" and s_enc.from_teacher == name:
        return
    mine = student_encoder_vocab(lr, student)
    if mine is None:
        return
    s_tok, s_vocab = mine
    differ = s_vocab is not None and t_enc.vocab is not None and s_vocab != t_enc.vocab
    s_shape = student_shape(lr, student)
    if (s_vocab is None or t_enc.vocab is None) and s_shape and t_enc.shape:
        differ = s_shape.vocab != t_enc.shape.vocab
    if differ:
        yield _at_key(lr, ("teachers", name), f"teacher '{name}' reads other word pieces than "
                      f"the student: its tokenizer {t_enc.tokenizer} and student encoder "
                      f"'{student}' (tokenizer {s_tok}) have different vocabularies",
                      hint="the teacher reads the student's batch: give the student the "
                      f"teacher's tokenizer, or start it from the teacher (from_teacher: {name})")


def _objectives_fit(lr: LoadedRecipe, name: str, info: TeacherInfo, objs: Any,
                    at: tuple) -> Iterator[Problem]:
    t_enc = _teacher_encoder(lr, name, info)
    student = student_encoder(lr, name)
    s_shape = student_shape(lr, student) if student else None
    for obj in REPRESENTATION:
        if getattr(objs, obj) is None:
            continue
        if t_enc is not None and t_enc.type != "hf":
            yield _err(lr, (*at, obj), f"'{obj}' matches transformer layers, but the teacher's "
                       f"encoder '{t_enc.name}' is a {t_enc.type} encoder")
            continue
        t_shape = t_enc.shape if t_enc else None
        if s_shape is None or t_shape is None:
            continue
        yield from _shapes_fit(lr, obj, getattr(objs, obj), (*at, obj), s_shape, t_shape)
    if _needs_heads(objs) and info.kind != "model":
        yield from _heads_fit(lr, name, info, objs, at)


def _map_problems(lr: LoadedRecipe, spec: Any, at: tuple, s: EncoderShape,
                  t: EncoderShape) -> Iterator[Problem]:
    for i, problem in pair_problems(spec, s.layers, t.layers):
        where = (*at, "layers") if i is None else (*at, "layers", i)
        yield _err(lr, where, f"layer map: {problem}",
                   hint="student layers count 1..S, teacher layers 1..T (0 is the embedding "
                   "output)")


def _shapes_fit(lr: LoadedRecipe, obj: str, cfg: Any, at: tuple, s: EncoderShape,
                t: EncoderShape) -> Iterator[Problem]:
    widths = f"student width {s.hidden}, teacher width {t.hidden}"
    if obj == "pkd":
        yield from _map_problems(lr, cfg.layers, at, s, t)
        if s.hidden != t.hidden:
            yield _err(lr, at, f"PKD compares [CLS] states of equal widths ({widths})",
                       hint="use tinybert with project: true (a learned projection) instead")
    elif obj == "tinybert":
        if {"attentions", "hidden"} & set(cfg.parts):
            yield from _map_problems(lr, cfg.layers, at, s, t)
        if not cfg.project and s.hidden != t.hidden and {"embeddings", "hidden"} & set(cfg.parts):
            where = (*at, "project") if lr.where(*at, "project") != lr.where(*at) else at
            yield _err(lr, where, f"the widths differ ({widths}) and project is off",
                       hint="set project: true to learn a projection")
        if "attentions" in cfg.parts and s.heads != t.heads:
            yield _err(lr, (*at, "parts"), "attention matrices are compared head by head: the "
                       f"student has {s.heads} heads, the teacher {t.heads}",
                       hint="drop 'attentions' from parts, or use minilm's relations")
    elif obj == "minilm":
        if s.heads != t.heads:
            yield _err(lr, at, "MiniLM compares attention and value relations head by head: "
                       f"the student has {s.heads} heads, the teacher {t.heads}",
                       hint="give the student the teacher's head count")
        if isinstance(cfg.teacher_layer, int) and cfg.teacher_layer > t.layers:
            yield _err(lr, (*at, "teacher_layer"), f"teacher layer {cfg.teacher_layer} is out "
                       f"of range: the teacher has {t.layers} layers",
                       expected=f"1..{t.layers} or 'last'", found=str(cfg.teacher_layer))


def logits_pairs(lr: LoadedRecipe, objs: Any, info: TeacherInfo) -> dict[str, str]:
    """Student head → teacher head a logits objective (or tinybert's prediction part) reads:
    its `heads`, or the student heads whose names the teacher also has."""
    if objs.logits is not None and objs.logits.heads:
        return dict(objs.logits.heads)
    return {h: h for h in lr.recipe.heads if h in info.heads}


def _heads_fit(lr: LoadedRecipe, name: str, info: TeacherInfo, objs: Any,
               at: tuple) -> Iterator[Problem]:
    r = lr.recipe
    explicit = objs.logits is not None and bool(objs.logits.heads)
    obj = "logits" if objs.logits is not None else "tinybert"
    pairs = logits_pairs(lr, objs, info)
    if not pairs:
        yield _err(lr, (*at, obj), f"no student head has the name of a head of teacher "
                   f"'{name}'", expected=f"a head named {one_of(info.heads)}",
                   found=f"student heads {one_of(r.heads)[7:]}",
                   hint="map them: logits: {heads: {STUDENT_HEAD: TEACHER_HEAD}}")
        return
    for s_name, t_name in pairs.items():
        where = (*at, "logits", "heads", s_name) if explicit else (*at, obj)
        s_head, t_head = r.heads.get(s_name), info.heads.get(t_name)
        if s_head is None:
            continue  # objectives_fit_the_student reports it
        if t_head is None:
            yield _err(lr, where, f"teacher '{name}' has no head '{t_name}'",
                       expected=one_of(info.heads), hint=did_you_mean(t_name, info.heads))
            continue
        if s_head.type != t_head.type:
            yield _err(lr, where, f"student head '{s_name}' ({s_head.type}) cannot learn the "
                       f"logits of teacher head '{t_name}' ({t_head.type})",
                       hint="map heads of the same type")
            continue
        s_labels = tuple(getattr(s_head, "labels", None) or ())
        t_labels = t_head.labels or ()
        if s_labels != t_labels:
            same = sorted(s_labels) == sorted(t_labels)
            yield _err(lr, where, f"student head '{s_name}' and teacher head '{t_name}' "
                       + ("list the same labels in another order" if same else
                          "have different labels"), expected=f"[{', '.join(t_labels)}]",
                       found=f"[{', '.join(s_labels)}]",
                       hint="the logits are compared class by class: list the teacher's "
                       "labels in its order")


@data_check
def teacher_layers_fit(lr: LoadedRecipe) -> Iterator[Problem]:
    """`from_teacher` reads an hf encoder of the teacher; `layers` within its depth; a
    stage's frozen layers within the student's depth (which may come from the teacher)."""
    r = lr.recipe
    for name, enc in r.encoders.items():
        if enc.type != "hf" or enc.from_teacher not in r.teachers:
            continue
        info = _info(lr, enc.from_teacher)
        if info is None:
            continue
        t_enc = _teacher_encoder(lr, enc.from_teacher, info)
        if t_enc is not None and t_enc.type != "hf":
            yield _err(lr, ("encoders", name, "from_teacher"), f"teacher '{enc.from_teacher}''s "
                       f"encoder '{t_enc.name}' is a {t_enc.type} encoder; from_teacher copies "
                       "an hf encoder")
            continue
        if enc.layers is not None:
            shape = source_shape(enc, lr.origin_dir("encoders", name), lr)
            yield from _layers_in_depth(lr, name, enc.layers, shape)
    for i, stage in enumerate(r.stages):
        for enc_name, frozen in stage.freeze.items():
            shape = student_shape(lr, enc_name)
            if shape is not None and frozen > shape.layers:
                yield _err(lr, ("stages", i, "freeze", enc_name), f"encoder '{enc_name}' has "
                           f"{shape.layers} layers", expected=f"at most {shape.layers}",
                           found=str(frozen))
