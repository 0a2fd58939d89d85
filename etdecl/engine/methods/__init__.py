"""Training methods: how a step's loss is made from the graph's outputs.

The trainer owns the loop (batches, optimizer, plugin, checkpoints, evaluation); a method owns
the objective: its extra trainable modules (boosted with the graph), its frozen models
(teachers), the loss as a total plus named parts, per-example weights, and its own state.
"""

from .adabert import AdaBERTSearch
from .base import LossParts, Method, MethodContext
from .distill import Distill
from .meta_dtl import MetaDTL
from .meta_teacher import MetaTeacher
from .supervised import Supervised

METHODS: dict[str, type[Method]] = {"supervised": Supervised, "distill": Distill,
                                    "meta_teacher": MetaTeacher, "meta_dtl": MetaDTL,
                                    "adabert": AdaBERTSearch}

__all__ = ["METHODS", "AdaBERTSearch", "Distill", "LossParts", "MetaDTL", "Method", "MethodContext",
           "MetaTeacher", "Supervised"]
