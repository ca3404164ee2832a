"""Moving through the plan: which node starts a step, and what follows a finished one."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.types import Command

from runpad.state import AnalysisState, PlanStep

__all__ = ["advance", "step_node"]

StepNode = Literal["coder", "searcher"]


def step_node(step: PlanStep) -> StepNode:
    """Search and documentation steps start at the searcher; the rest at the coder."""
    return "searcher" if step["kind"] in ("search", "docs") else "coder"


def advance(state: AnalysisState, update: dict[str, Any]) -> Command[Any]:
    """On to the next step, or to the reporter after the last one."""
    step_index = state.get("step_index", 0)
    plan = state["plan"]
    if step_index + 1 >= len(plan):
        return Command(goto="reporter", update=update)
    return Command(
        goto=step_node(plan[step_index + 1]),
        update={
            **update,
            "step_index": step_index + 1,
            "attempt": 0,
            "feedback": None,
            "votes": [],
        },
    )
