"""Option errors that know the recipe around them, said before the generic "value not allowed".

An allowed-values list answers the wrong question when the user's value makes sense for another
plugin: asking `zero` for ZeRO stage 3 is asking for `gemini`, and the message should say so.
"""

from __future__ import annotations

from typing import Any

from .errors import Problem
from .load import PathKey, Tree, dotted

STAGES = {"zero": (1, 2), "hybrid": (0, 1, 2), "ddp": (), "gemini": ()}
"""ZeRO stages each plugin takes (`gemini` always works at stage 3 and takes none)."""
GEMINI_HINT = "use plugin 'gemini' for ZeRO stage 3: it shards parameters as well as " \
              "gradients and optimizer state"


def _stages(plugin: str) -> str:
    stages = [str(s) for s in STAGES.get(plugin, ())]
    return " or ".join(stages) if stages else "no zero_stage"


def _zero_stage(value: Any, plugin: str, path: PathKey, tree: Tree) -> Problem | None:
    if plugin not in STAGES:
        return None
    where = tree.where(path)
    shown = str(value) if isinstance(value, int) else repr(value)
    asks_params = isinstance(value, int) and not isinstance(value, bool) and value >= 3
    if plugin == "gemini":
        return Problem("plugin 'gemini' always shards parameters, gradients and optimizer "
                       "state (ZeRO stage 3) and takes no zero_stage", loc=where,
                       path=dotted(path), found=shown, hint="remove parallel.zero_stage")
    if plugin == "ddp":
        return Problem("plugin 'ddp' does not shard", loc=where, path=dotted(path),
                       expected="no zero_stage", found=shown,
                       hint=GEMINI_HINT if asks_params
                       else "use plugin 'zero' (stage 1 or 2) or 'hybrid'")
    shards = "optimizer state and gradients" if plugin == "zero" else "optimizer state"
    return Problem(f"plugin '{plugin}' shards {shards} (ZeRO stage {_stages(plugin)}), "
                   "not parameters" if asks_params else
                   f"plugin '{plugin}' takes ZeRO stage {_stages(plugin)}",
                   loc=where, path=dotted(path), expected=_stages(plugin), found=shown,
                   hint=GEMINI_HINT if asks_params else None)


def option_problem(path: PathKey, value: Any, tree: Tree) -> Problem | None:
    """A specific message for a refused option value, or None for the generic one."""
    if path == ("parallel", "zero_stage"):
        parallel = tree.data.get("parallel") if isinstance(tree.data, dict) else None
        plugin = parallel.get("plugin", "ddp") if isinstance(parallel, dict) else None
        return _zero_stage(value, plugin, path, tree) if isinstance(plugin, str) else None
    return None
