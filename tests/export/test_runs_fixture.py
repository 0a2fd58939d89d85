"""The fixture runs load back as the runs they are: every kind's checkpoint fits its graph."""

from __future__ import annotations

import pytest
from export_support import KINDS


@pytest.mark.parametrize("kind", [*KINDS, "two-datasets"])
def test_fixture_run_loads(runs, kind):
    from etdecl.engine.inference import load_run

    run = load_run(runs(kind))
    assert run.checkpoint.name == "model.safetensors"
    assert set(run.compiled.tasks)
