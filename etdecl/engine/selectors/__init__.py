"""Instance selectors (the EasyTransfer paper's Table 9): which source examples train the model
for a target domain. `bayes` chooses before training; `reinforced` and `minimax` keep or drop
each source row per batch through per-example loss weights and learn from the target dev
metric. See `recipe/schema_selectors.py` for the recipe side and `records.py` for the log."""

from .base import FEATURE_KEY, Scope, Selector, feature_key
from .selection import ModelFeatures, Selection, build_selection

__all__ = ["FEATURE_KEY", "ModelFeatures", "Scope", "Selection", "Selector", "build_selection",
           "feature_key"]
