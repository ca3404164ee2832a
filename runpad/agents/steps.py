"""Moving through the plan: which node starts a step, what follows a finished one, and
the verdict event that tells the stream which way the run goes after a cell."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.config import get_stream_writer
from langgraph.types import Command

from runpad.events import Decision, Verdict
from runpad.state import AnalysisState, PlanStep

__all__ = ["advance", "decided", "failed_for_good", "step_node"]

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


def decided(
    state: AnalysisState, decision: Decision, command: Command[Any], notes: str | None = None
) -> Command[Any]:
    """Emit the `Verdict` on the run's last cell and record it in the state (for the
    reports); return `command`, which carries it out, with the verdict added."""
    cells = state.get("cells", [])
    verdict = Verdict(
        type="verdict",
        step=state.get("step_index", 0) + 1,
        cell=cells[-1]["index"] if cells else 0,
        decision=decision,
        notes=notes,
    )
    get_stream_writer()(verdict)
    update = command.update if isinstance(command.update, dict) else {}
    return Command(goto=command.goto, update={**update, "verdicts": [verdict]})


def failed_for_good(command: Command[Any]) -> Decision:
    """The decision `budget.give_up_on_step` took: a new plan, or the end of the run."""
    return "replan" if command.goto == "planner" else "stop"
