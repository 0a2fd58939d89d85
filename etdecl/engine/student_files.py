"""A run's own copy of the encoders it cut from a teacher (`from_teacher:`), so the finished run
opens without the teacher.

A `from_teacher` encoder's shape and tokenizer come from the teacher's run or bundle, which may
be moved or deleted after the student trained. The trainer saves each such encoder's config and
tokenizer into the run directory (`encoders/<name>/config.json`, `tokenizers/<name>/`, as a
bundle lays them out), and `load_run` rebuilds the encoder from them before loading the
checkpoint's weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def teacher_cut_encoders(recipe: Any) -> list[str]:
    return [n for n, cfg in recipe.encoders.items()
            if cfg.type == "hf" and getattr(cfg, "from_teacher", None) is not None]


def save_student_files(compiled: Any, recipe: Any, run_dir: Path) -> None:
    """Write the config and tokenizer of every `from_teacher` encoder into the run directory."""
    for name in teacher_cut_encoders(recipe):
        enc = compiled.model.encoders[name]
        enc.backbone.config.save_pretrained(str(run_dir / "encoders" / name))
        tok = compiled.tokenizers[compiled.tokenizer_of[name]]
        tok.save_pretrained(str(run_dir / "tokenizers" / name))


def saved_encoder_configs(run_dir: Path, recipe: Any) -> dict[str, Any]:
    """The `from_teacher` encoders as config-built encoders from the run's own files (an empty
    dict for runs without them, or written before these files existed)."""
    out: dict[str, Any] = {}
    for name in teacher_cut_encoders(recipe):
        config_file = run_dir / "encoders" / name / "config.json"
        tokenizer = run_dir / "tokenizers" / name
        if not (config_file.is_file() and tokenizer.is_dir()):
            continue
        out[name] = config_built(recipe.encoders[name], config_file, tokenizer)
    return out


def config_built(cfg: Any, config_file: Path, tokenizer: Path) -> Any:
    """An `hf` encoder entry rebuilt from a saved config.json and tokenizer folder (a bundle's,
    or a run's own copy): no pretrained weights (the checkpoint's follow), and no `layers` or
    `from_teacher`, since the saved config already has the cut depth."""
    # transformers' private keys pin choices of the saving process (an autoset attention
    # kernel would stay "eager"); the loading process makes its own
    config = {k: v for k, v in json.loads(config_file.read_text()).items()
              if not k.startswith("_")}
    return cfg.model_copy(update={"model": None, "config": config,
                                  "tokenizer": str(tokenizer.resolve()), "layers": None,
                                  "from_teacher": None})
