"""A run directory for throughput benchmarks, made without training: the recipe's pretrained
encoder with its freshly initialised heads, saved as the run's best and last checkpoint.

Inference speed does not depend on what the weights learnt, so benchmarks of predict, export
and serve skip the minute of training; their accuracy figures come from real runs elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path


def untrained_run(recipe: Path, run_dir: Path, overrides: list[str] | None = None) -> Path:
    from safetensors.torch import save_model

    from etdecl.compile.graph import compile_recipe
    from etdecl.engine.launch import prepare_run_dir
    from etdecl.recipe.validate import load_recipe

    loaded = load_recipe(recipe, overrides=overrides or [], check_data=False)
    prepare_run_dir(loaded, run_dir, resume=False)
    compiled = compile_recipe(loaded)
    root = run_dir / "checkpoints"
    for name in ("step-0000000-untrained", "best"):
        (root / name).mkdir(parents=True, exist_ok=True)
        save_model(compiled.model, str(root / name / "model.safetensors"))
        (root / name / "state.json").write_text(json.dumps({"step": 0}))
    (root / "last").write_text("step-0000000-untrained\n")
    return run_dir
