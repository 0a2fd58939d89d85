"""Training engine: the only package that imports colossalai."""
