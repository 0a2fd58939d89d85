"""Recipe → module graph. `compile_recipe` is the one entry point."""

from .graph import CompiledModel, ModelGraph, compile_recipe

__all__ = ["CompiledModel", "ModelGraph", "compile_recipe"]
