"""Shardformer policy for etdecl's ModelGraph, so HybridParallelPlugin can split it (tp, pp).

ColossalAI picks policies by the model's class, and knows `BertModel`, not our graph of
encoders and heads. This policy delegates the BERT layers' tensor-parallel replacements to
ColossalAI's own `BertPolicy`, and for pipelines places the embeddings on the first stage,
an even share of the encoder layers on every stage, and pooling plus the head on the last.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from colossalai.pipeline.stage_manager import PipelineStageManager
from colossalai.shardformer.modeling.bert import BertPipelineForwards
from colossalai.shardformer.policies.base_policy import Policy
from colossalai.shardformer.policies.bert import BertPolicy
from colossalai.shardformer.shard import ShardConfig
from torch import Tensor, nn

from ..compile.graph import ModelGraph
from ..components.outputs import EncoderOutput


def _encoder_name(graph: ModelGraph) -> str:
    """Tensor and pipeline parallelism split the graph's one `hf` encoder (validate refuses
    other graphs for tp/pp)."""
    return next(iter(graph.encoders))


def _backbone(graph: ModelGraph) -> nn.Module:
    return graph.encoders[_encoder_name(graph)].backbone


def graph_pipeline_forward(
    self: ModelGraph,
    input_ids: Tensor | None = None,
    attention_mask: Tensor | None = None,
    token_type_ids: Tensor | None = None,
    hidden_states: Tensor | None = None,
    stage_manager: PipelineStageManager | None = None,
    stage_index: list[int] | None = None,
    shard_config: ShardConfig | None = None,
    **batch: Tensor,
) -> Any:
    """One pipeline stage of the graph: hidden states in, hidden states (or the heads'
    outputs, a flat dict like the graph's own forward) out."""
    name = _encoder_name(self)
    encoder = self.encoders[name]
    kwargs = {}
    if token_type_ids is not None and encoder.uses_token_type_ids:
        kwargs["token_type_ids"] = token_type_ids
    out = BertPipelineForwards.bert_model_forward(
        encoder.backbone,
        input_ids=input_ids,
        attention_mask=attention_mask,
        hidden_states=hidden_states,
        stage_manager=stage_manager,
        stage_index=stage_index,
        shard_config=shard_config,
        **kwargs,
    )
    if not stage_manager.is_last_stage():
        return out  # {"hidden_states": ...} for the next stage
    states = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
    encoded = {(name, "a"): EncoderOutput(encoder.pool(states, attention_mask), states,
                                          attention_mask)}
    full = {"input_ids": input_ids, "attention_mask": attention_mask, **batch}
    if token_type_ids is not None:
        full["token_type_ids"] = token_type_ids
    return self.run_heads(encoded, full)


class ModelGraphPolicy(Policy):
    """Tensor parallelism through BertPolicy's layer replacements; pipeline stages by layer."""

    def config_sanity_check(self) -> None:
        pass

    def _bert_policy(self) -> BertPolicy:
        inner = BertPolicy()
        inner.set_model(_backbone(self.model))
        inner.set_shard_config(self.shard_config)
        inner.preprocess()
        return inner

    def preprocess(self) -> nn.Module:
        self.tie_weight = False
        return self.model

    def module_policy(self) -> dict:
        from transformers.models.bert.modeling_bert import BertEmbeddings

        policy = self._bert_policy().module_policy()
        # BertPolicy pads the vocabulary to a multiple of 64 × tp, and 0.5.0 then cannot gather
        # that embedding's optimizer state when checkpointing; the plan requires tp | vocab, so
        # the split needs no padding at all
        for desc in policy[BertEmbeddings].sub_module_replacement or []:
            if desc.suffix == "word_embeddings" and self.shard_config.enable_tensor_parallelism:
                desc.kwargs = {**(desc.kwargs or {}), "make_vocab_size_divisible_by": 1}
        manager = self.pipeline_stage_manager
        if manager is not None:
            layers = len(_backbone(self.model).encoder.layer)
            stage_index = manager.get_stage_index(manager.distribute_layers(layers))
            self.append_or_create_method_replacement(
                description={
                    "forward": partial(
                        graph_pipeline_forward,
                        stage_manager=manager,
                        stage_index=stage_index,
                        shard_config=self.shard_config,
                    )
                },
                policy=policy,
                target_key=ModelGraph,
            )
        return policy

    def postprocess(self) -> nn.Module:
        return self.model

    def get_held_layers(self) -> list[nn.Module]:
        manager = self.pipeline_stage_manager
        assert manager is not None
        backbone = _backbone(self.model)
        held: list[nn.Module] = []
        if manager.is_first_stage():
            held.append(backbone.embeddings)
        start, end = manager.get_stage_index(manager.distribute_layers(len(backbone.encoder.layer)))
        held.extend(backbone.encoder.layer[start:end])
        if manager.is_last_stage():
            if getattr(backbone, "pooler", None) is not None:  # pooling: pooler
                held.append(backbone.pooler)
            held.append(self.model.heads)
            held.append(self.model.objectives)
        return held

    def get_shared_params(self) -> list[dict[int, Tensor]]:
        return []
