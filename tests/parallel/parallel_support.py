"""The plan table of the parallel tests (imported by the tests; fixtures live in conftest)."""

from __future__ import annotations

PLANS: dict[str, dict[str, object]] = {
    "ddp": {"plugin": "ddp"},
    "zero1": {"plugin": "zero", "zero_stage": 1},
    "zero2": {"plugin": "zero", "zero_stage": 2},
    "hybrid-dp": {"plugin": "hybrid"},
    "tp2": {"plugin": "hybrid", "tp": 2},
    "pp2": {"plugin": "hybrid", "pp": 2},
    "pp2-zero1-bf16": {"plugin": "hybrid", "pp": 2, "zero_stage": 1, "precision": "bf16"},
    "gemini-bf16": {"plugin": "gemini", "precision": "bf16"},
}


def plan_overrides(name: str) -> list[str]:
    out = []
    for key, value in PLANS[name].items():
        out += ["--set", f"parallel.{key}={value}"]
    return out


def tolerance(name: str) -> float:
    """Against one process of the same plugin and precision: fp32 agrees to reduction order;
    bf16 rounds weights differently once gradients are summed in another order."""
    return 2e-2 if "bf16" in name else 1e-3
