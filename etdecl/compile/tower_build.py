"""Build a recipe's towers over its encoders, in dependency order, each knowing its width."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..components.towers import DRSSTower, PrivateTower, SharedPrivateTower, SharedTower


def tower_order(configs: dict[str, Any]) -> list[str]:
    """Towers in dependency order (validate refuses cycles; this refuses them too)."""
    done: list[str] = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in path:
            raise ValueError(f"towers form a cycle: {' → '.join((*path, name))}")
        for dep in configs[name].inputs():
            if dep in configs:
                visit(dep, (*path, name))
        if name not in seen:
            seen.add(name)
            done.append(name)

    for name in configs:
        visit(name, ())
    return done


def build_towers(configs: dict[str, Any], encoders: dict[str, nn.Module],
                 domains: list[str] | None) -> dict[str, nn.Module]:
    """Every tower of the recipe, in dependency order, each knowing its output width."""
    towers: dict[str, nn.Module] = {}

    def width(node: str) -> int:
        return int((towers.get(node) or encoders[node]).hidden_size)

    for name in tower_order(configs):
        cfg = configs[name]
        if cfg.domain_aware() and not domains:
            raise ValueError(f"tower '{name}' needs data.domains")
        doms = list(domains or [])
        if cfg.type == "shared":
            towers[name] = SharedTower(name, cfg.input, width(cfg.input))
        elif cfg.type == "private":
            towers[name] = PrivateTower(name, cfg.input, cfg.copy, encoders[cfg.input], doms,
                                        cfg.top_layers, cfg.small)
        elif cfg.type == "shared_private":
            towers[name] = SharedPrivateTower(name, cfg.shared, cfg.private,
                                              (width(cfg.shared), width(cfg.private)), doms,
                                              cfg.adversarial, cfg.orthogonality)
        elif cfg.type == "drss":
            towers[name] = DRSSTower(name, cfg.shared, width(cfg.shared), cfg.width, doms,
                                     cfg.weight, cfg.adversarial)
        else:
            raise KeyError(f"unknown tower type '{cfg.type}'")
    return towers
