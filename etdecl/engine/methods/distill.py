"""`distill`: the student's task loss plus what each teacher of `teachers:` teaches.

total = hard · (1 − ᾱ) · task + Σ_teachers ŵ_t · (α_t · KD_t + β_pkd · PKD_t + w_tiny · Σ TinyBERT
parts + w_minilm · Σ MiniLM relations) + the towers' `aux.*` losses, where ŵ_t are the
teachers' weights normalised to sum 1 and ᾱ = Σ ŵ_t α_t over the teachers with a logits
objective (one teacher: its α). Every term is one value per example, reduced with the example
weights (MetaKD's `weighting: domain_expertise`, from `weighting.make_weigher`) or the mean.
Each part is logged by name, unscaled: `loss.kd.<teacher>`, `loss.pkd.<teacher>`,
`loss.tinybert.<teacher>.<part>`, `loss.minilm.<teacher>.<relation>`, and `cache.hit_rate`.

The teachers run inside the student's forward (`graph.extra_forward`), where sharded plugins
have the student's parameters at hand; they are held here, not in the graph, so the plugin
never boosts them and checkpoints hold the student only (plus TinyBERT's projections under
`objectives.*`, which inference drops). The objectives and `hard` are read from the recipe
only (stages change them with `--set`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...components import distill_losses as L
from ...recipe.check_teachers import student_encoder
from ...recipe.layer_maps import resolve_layer_map
from ..teacher_cache import TeacherCache, wanted_outputs
from ..teachers import LoadedTeacher, ValueHook, use_eager_attention, value_module
from .base import LossParts, Method, MethodContext, head_losses


def _module(modules: nn.ModuleDict, key: str) -> nn.Module | None:
    return modules[key] if key in modules else None  # noqa: SIM401 (ModuleDict has no get)


def default_cache_dir() -> Path:
    from ...recipe.split_archive import etdecl_cache

    return etdecl_cache() / "teacher-outputs"


class _Plan:
    """What one teacher teaches: the layer pairs, the teacher outputs wanted, head maps."""

    def __init__(self, name: str, teacher: LoadedTeacher, student: str, s_layers: int,
                 s_width: int, s_heads: int, obj: Any, student_heads: list[str]) -> None:
        self.name, self.teacher, self.student, self.obj = name, teacher, student, obj
        t_layers = teacher.n_layers
        self.student_hidden = self.student_attn = False
        self.value_layer: int | None = None
        self.projections: dict[str, nn.Module] = {}

        def head_map(explicit: dict[str, str] | None) -> dict[str, str]:
            m = explicit or {h: h for h in student_heads if h in teacher.heads}
            if not m:
                raise ValueError(f"teacher '{name}' has no head the student's heads "
                                 f"({', '.join(student_heads)}) can learn from; name them "
                                 "under objectives.logits.heads")
            return m

        self.logit_heads: dict[str, str] = {}
        if obj.logits is not None:
            self.logit_heads = head_map(obj.logits.heads)
        self.pkd_pairs: list[tuple[int, int]] = []
        if obj.pkd is not None:
            if s_width != teacher.width:
                raise ValueError(f"teacher '{name}': PKD compares [CLS] states of equal width, "
                                 f"but the student's is {s_width} and the teacher's "
                                 f"{teacher.width}")
            self.pkd_pairs = resolve_layer_map(obj.pkd.layers, s_layers, t_layers)
            self.student_hidden = True
        self.tiny_pairs: list[tuple[int, int]] = []
        self.tiny_parts: list[str] = []
        self.pred_heads: dict[str, str] = {}
        if obj.tinybert is not None:
            tb = obj.tinybert
            self.tiny_parts = list(tb.parts)
            self.tiny_pairs = resolve_layer_map(tb.layers, s_layers, t_layers)
            self.student_hidden |= bool({"embeddings", "hidden"} & set(tb.parts))
            self.student_attn |= "attentions" in tb.parts
            if "prediction" in tb.parts:
                self.pred_heads = head_map(obj.logits.heads if obj.logits else None)
            if (s_width != teacher.width and set(tb.parts) & {"embeddings", "hidden"}):
                if not tb.project:
                    raise ValueError(f"teacher '{name}': the student's width {s_width} differs "
                                     f"from the teacher's {teacher.width}; set "
                                     "tinybert.project: true")
                if "embeddings" in tb.parts:
                    self.projections[f"tinybert_{name}_emb"] = nn.Linear(s_width, teacher.width)
                for s, _ in self.tiny_pairs:
                    if "hidden" in tb.parts:
                        self.projections[f"tinybert_{name}_l{s}"] = nn.Linear(s_width,
                                                                               teacher.width)
        self.minilm_layer: int | None = None
        if obj.minilm is not None:
            m = obj.minilm
            self.minilm_layer = t_layers if m.teacher_layer == "last" else int(m.teacher_layer)
            self.student_attn |= "attention" in m.relations
            if "value" in m.relations:
                self.value_layer = s_layers
        self.wanted = wanted_outputs(obj, s_layers, t_layers,
                                     {**self.logit_heads, **self.pred_heads}.values())
        self.s_layers, self.s_heads = s_layers, s_heads


class Distill(Method):
    def __init__(self, cfg: Any, ctx: MethodContext) -> None:
        super().__init__(cfg, ctx)
        recipe = ctx.recipe
        graph = ctx.graph
        if graph is None or ctx.loaded is None:
            raise ValueError("the distill method needs the graph and the loaded recipe")
        if not recipe.teachers:
            raise ValueError("method: distill needs at least one teacher under teachers:")
        total_w = sum(t.weight for t in recipe.teachers.values())
        self.teacher_weight = {n: t.weight / total_w for n, t in recipe.teachers.items()}
        self.plans: list[_Plan] = []
        self.value_hooks: dict[str, ValueHook] = {}
        student_heads = list(ctx.tasks)
        for name, tcfg in recipe.teachers.items():
            teacher = LoadedTeacher(name, tcfg, ctx.loaded)
            student = student_encoder(ctx.loaded, name)  # the default validate reports on
            if student is None or student not in graph.encoders:
                raise ValueError(f"teacher '{name}' has no student encoder to teach; set "
                                 f"teachers.{name}.student")
            enc = graph.encoders[student]
            # a TextCNN or BiLSTM student learns logits only (validate refuses the rest)
            backbone = getattr(enc, "backbone", None)
            plan = _Plan(name, teacher, student, getattr(enc, "n_layers", 0), enc.hidden_size,
                         int(backbone.config.num_attention_heads) if backbone else 0,
                         tcfg.objectives, student_heads)
            teacher.prepare({w for w in plan.wanted if not w.endswith(".logits")})
            if plan.student_hidden:
                enc.want_hidden_states = True
            if plan.student_attn or plan.value_layer is not None:
                use_eager_attention(enc.backbone)
                enc.want_attentions = enc.want_attentions or plan.student_attn
            if plan.value_layer is not None and student not in self.value_hooks:
                self.value_hooks[student] = ValueHook(value_module(enc.backbone,
                                                                   plan.value_layer))
            self.plans.append(plan)
        self.cache: TeacherCache | None = None
        if cfg.cache:
            root = (Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir())
            if cfg.cache_dir and not root.is_absolute():
                root = ctx.loaded.origin_dir("method", "cache_dir") / root
            self.cache = TeacherCache(root.expanduser())
        self.weigher = None
        if cfg.weighting != "none":
            from .weighting import make_weigher  # part META

            self.weigher = make_weigher(cfg, ctx)
        self._weights: torch.Tensor | None = None
        self._hit = (0, 0)
        graph.extra_forward = self._extra_forward

    # ── modules and weights ──────────────────────────────────────────────────────────────

    def extra_modules(self) -> dict[str, nn.Module]:
        return {k: v for p in self.plans for k, v in p.projections.items()}

    def frozen_models(self) -> dict[str, nn.Module]:
        return {p.name: p.teacher.module for p in self.plans}

    def example_weights(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        return self._weights

    # ── inside the student's forward ─────────────────────────────────────────────────────

    def _teacher_outputs(self, plan: _Plan, batch: dict[str, torch.Tensor]
                         ) -> dict[str, torch.Tensor]:
        teacher = plan.teacher
        if self.cache is None or "dataset" not in batch or not self.ctx.train_data:
            return teacher.run(batch)
        ds = int(batch["dataset"][0])
        index = batch["index"].numpy()
        store = self.cache.open(plan.name, teacher.fingerprint, sorted(plan.wanted), ds,
                                self.ctx.train_data[ds].feats)
        if store.has(index):
            self.cache.hits += 1
            self._hit = (self._hit[0] + 1, self._hit[1] + 1)
            return store.read(index, int(batch["input_ids"].shape[1]))
        self.cache.misses += 1
        self._hit = (self._hit[0], self._hit[1] + 1)
        out = teacher.run(batch)
        store.write(index, {k: v for k, v in out.items() if k in plan.wanted or k == "pooled"})
        return out

    def _extra_forward(self, graph: nn.Module, encoded: dict, out: dict[str, torch.Tensor],
                       batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not graph.training:
            return {}
        result: dict[str, torch.Tensor] = {}
        mask = batch["attention_mask"]
        values: dict[str, torch.Tensor] = {}
        for plan in self.plans:
            t_out = self._teacher_outputs(plan, batch)
            t = plan.name
            result[f"teacher.{t}.pooled"] = t_out["pooled"].float()
            for key, value in t_out.items():
                if key.endswith(".logits"):
                    result[f"teacher.{t}.{key}"] = value.float()
            enc = encoded.get((plan.student, "a"))
            if enc is None:
                enc = graph.encode(plan.student, "a", batch)
                encoded[(plan.student, "a")] = enc
            pairs = [(sh, th) for sh, th in plan.logit_heads.items()
                     if f"{sh}.logits" in out and f"{th}.logits" in t_out]  # heads that ran
            if pairs:
                T = plan.obj.logits.temperature
                result[f"distill.kd.{t}"] = sum(
                    L.logits_kd(out[f"{sh}.logits"], t_out[f"{th}.logits"], T)
                    for sh, th in pairs)
            if plan.pkd_pairs:
                result[f"distill.pkd.{t}"] = L.pkd_loss(
                    [enc.hidden_states[s][:, 0] for s, _ in plan.pkd_pairs],
                    [t_out[f"cls.{tl}"] for _, tl in plan.pkd_pairs])
            objs = graph.objectives
            if "embeddings" in plan.tiny_parts:
                proj = _module(objs, f"tinybert_{t}_emb")
                result[f"distill.tinybert.{t}.embeddings"] = L.embedding_mse(
                    enc.hidden_states[0], t_out["hidden.0"], mask, proj)
            if "hidden" in plan.tiny_parts:
                per = 0
                for s, tl in plan.tiny_pairs:
                    key = f"tinybert_{t}_l{s}"
                    per = per + L.hidden_mse(enc.hidden_states[s], t_out[f"hidden.{tl}"], mask,
                                             _module(objs, key))
                result[f"distill.tinybert.{t}.hidden"] = per
            if "attentions" in plan.tiny_parts:
                result[f"distill.tinybert.{t}.attentions"] = sum(
                    L.attention_mse(enc.attentions[s - 1], t_out[f"attn.{tl}"], mask)
                    for s, tl in plan.tiny_pairs)
            pairs = [(sh, th) for sh, th in plan.pred_heads.items()
                     if f"{sh}.logits" in out and f"{th}.logits" in t_out]
            if pairs:
                T = plan.obj.tinybert.temperature
                result[f"distill.tinybert.{t}.prediction"] = sum(
                    L.soft_cross_entropy(out[f"{sh}.logits"], t_out[f"{th}.logits"], T)
                    for sh, th in pairs)
            if plan.minilm_layer is not None:
                rel = plan.obj.minilm.relations
                if "attention" in rel:
                    result[f"distill.minilm.{t}.attention"] = L.attention_kl(
                        enc.attentions[plan.s_layers - 1], t_out[f"attn.{plan.minilm_layer}"],
                        mask)
                if "value" in rel:
                    if plan.student not in values:
                        values[plan.student] = self.value_hooks[plan.student].take()
                    result[f"distill.minilm.{t}.value"] = L.value_relation_kl(
                        values[plan.student], t_out[f"value.{plan.minilm_layer}"], mask,
                        plan.s_heads, plan.teacher.n_heads)
        return result

    # ── the loss ─────────────────────────────────────────────────────────────────────────

    def _scale(self, key: str) -> float:
        kind, teacher = key.split(".")[1:3]
        plan = next(p for p in self.plans if p.name == teacher)
        w = self.teacher_weight[teacher]
        if kind == "kd":
            return w * plan.obj.logits.alpha
        return w * getattr(plan.obj, kind).weight

    def loss(self, outputs: dict[str, torch.Tensor],
             batch: dict[str, torch.Tensor]) -> LossParts:
        self._weights = None
        if self.weigher is not None:
            t_out = {k[len("teacher."):]: v for k, v in outputs.items()
                     if k.startswith("teacher.")}
            self._weights = self.weigher.weights(batch, t_out).detach()
        plain = {k: v for k, v in outputs.items() if not k.startswith("aux.")}
        task = head_losses(self, plain, batch)
        alpha = sum(self.teacher_weight[p.name] * p.obj.logits.alpha for p in self.plans
                    if p.obj.logits is not None)
        total = self.cfg.hard * (1.0 - alpha) * task.total
        parts = dict(task.parts)
        for key, value in outputs.items():
            if key.startswith("aux."):
                parts["loss." + key[4:]] = value.detach().float()
                total = total + value.float()
            elif key.startswith("distill."):
                per = value.float()
                w = self._weights
                red = (per * w).sum() / w.sum().clamp_min(1e-12) if w is not None else per.mean()
                parts["loss." + key[len("distill."):]] = red.detach()
                total = total + self._scale(key) * red
        if self.cache is not None and self._hit[1]:
            parts["cache.hit_rate"] = torch.tensor(self._hit[0] / self._hit[1])
        self._hit = (0, 0)
        return LossParts(total, parts)

    # ── state and reporting ──────────────────────────────────────────────────────────────

    def state_dict(self) -> dict[str, Any]:
        return {"weigher": self.weigher.state_dict()} if self.weigher is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.weigher is not None and "weigher" in state:
            self.weigher.load_state_dict(state["weigher"])

    def summary(self) -> list[tuple[str, str]]:
        if self.cache is None:
            return [("teacher cache", "off (the teachers ran every step)")]
        c = self.cache
        where = ", ".join(sorted({str(c.root / k) for k in c.keys.values()})) or str(c.root)
        return [("teacher cache", f"hit rate {c.hit_rate:.3f} ({c.hits} hits, {c.misses} "
                 f"misses, batches × teachers) in {where}")]

