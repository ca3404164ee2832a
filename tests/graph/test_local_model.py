"""A smoke run with the real embedded model (SmolLM2 on llama.cpp).

It checks structure only: a cell was written, it ran, and the run ended with a status.
What a 135M model answers is the subject of the benchmarks, not of assertions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runpad.context import Context, RunLimits
from runpad.runner import arun
from tests.fixtures.scripted import CountingManager

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


async def test_smoke_run_with_the_local_model(
    local_model_installed: None, sandboxes: CountingManager, tmp_path: Path
) -> None:
    context = Context(
        model="local",
        sandboxes=sandboxes,
        run_dir=str(tmp_path),
        limits=RunLimits(max_cells=2, max_attempts_per_step=2, max_replans=0),
    )
    seen = []
    result = await arun(
        "Use Python to compute 12 * 34 and print the result.",
        context=context,
        checkpointer=str(tmp_path / "c.sqlite"),
        on_event=lambda mode, chunk: seen.append(mode),
    )
    assert result.status in {"answered", "stopped"}
    assert result.tokens > 0
    if result.status == "stopped":
        assert result.stop_reason
    # The router may answer directly; when it did not, a plan was made and a cell ran.
    if result.cells:
        assert result.plan
        cell = result.cells[0]
        assert cell["code"].strip()
        assert cell["duration_ms"] > 0
        assert sandboxes.started == 1
    assert "updates" in seen
