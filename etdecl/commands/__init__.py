"""CLI verbs beyond the core four, one small module each, registered in `etdecl.cli`.

Every module here is torch-free: it imports typer and rich at module level and the recipe
language inside its functions.
"""
