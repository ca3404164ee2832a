"""The run's bounds, checked in one place before any new cell is written."""

from __future__ import annotations

import time
from typing import Any

from langgraph.types import Command

from runpad.context import RunLimits
from runpad.state import AnalysisState

__all__ = ["exhausted_budget", "give_up_on_step", "stop"]


def exhausted_budget(state: AnalysisState, limits: RunLimits) -> str | None:
    """Why the run may not write another cell, or None."""
    cells = len(state.get("cells", []))
    if cells >= limits.max_cells:
        return f"The run used all {limits.max_cells} cells it may run (RunLimits.max_cells)."
    tokens = state.get("tokens", 0)
    if tokens >= limits.max_tokens:
        return (
            f"The run used {tokens} model tokens, over its budget of {limits.max_tokens} "
            "(RunLimits.max_tokens)."
        )
    elapsed = time.time() - state.get("started_at", time.time())
    if elapsed >= limits.max_wall_seconds:
        return (
            f"The run took {elapsed:.0f} s, over its limit of {limits.max_wall_seconds:.0f} s "
            "(RunLimits.max_wall_seconds)."
        )
    return None


def stop(reason: str, **update: Any) -> Command[Any]:
    """End the run early: the reporter writes up what there is, with the reason."""
    return Command(goto="reporter", update={**update, "status": "stopped", "stop_reason": reason})


def give_up_on_step(
    state: AnalysisState, limits: RunLimits, why: str, **update: Any
) -> Command[Any]:
    """A step failed for good: make a new plan if replans are left, else stop and say why."""
    replans = state.get("replans", 0)
    if replans < limits.max_replans:
        return Command(
            goto="planner",
            update={
                **update,
                "replans": replans + 1,
                "failure_notes": [*state.get("failure_notes", []), why],
                "draft": None,
                "feedback": None,
            },
        )
    return stop(f"{why} A new plan did not help either; stopping.", **update)
