"""Approval: pause before a cell runs, for a human to approve, edit or reject it.

`interrupt()` re-runs this node from its start on resume, so everything before it must be
free of side effects: it only reads state.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from runpad.context import Context
from runpad.errors import ConfigurationError
from runpad.events import ApprovalRequest
from runpad.state import AnalysisState, ApprovalDecision

__all__ = ["approve_cell", "normalize_decision"]


def normalize_decision(value: Any) -> ApprovalDecision:
    """Accept a decision dict, or the bare words "approve" / "reject"."""
    if isinstance(value, str):
        value = {"action": value}
    if isinstance(value, bool):
        value = {"action": "approve" if value else "reject"}
    if not isinstance(value, dict) or value.get("action") not in ("approve", "edit", "reject"):
        raise ConfigurationError(
            f"Approval answer {value!r} is not understood: resume with "
            "{'action': 'approve'}, {'action': 'edit', 'code': '...'} or "
            "{'action': 'reject', 'reason': '...'}."
        )
    if value["action"] == "edit" and not str(value.get("code", "")).strip():
        raise ConfigurationError("An 'edit' approval needs the edited cell in 'code'.")
    return ApprovalDecision(**value)  # type: ignore[typeddict-item]


async def approve_cell(
    state: AnalysisState, runtime: Runtime[Context]
) -> Command[Literal["executor", "reporter"]]:
    draft = state["draft"]
    assert draft is not None
    step_index = state.get("step_index", 0)
    decision = normalize_decision(
        interrupt(
            ApprovalRequest(
                type="approval",
                code=draft["code"],
                language=draft["language"],
                step=step_index + 1,
                description=state["plan"][step_index]["description"],
            )
        )
    )
    if decision["action"] == "approve":
        return Command(goto="executor")
    if decision["action"] == "edit":
        return Command(goto="executor", update={"draft": {**draft, "code": decision["code"]}})
    reason = decision.get("reason") or "no reason given"
    return Command(
        goto="reporter",
        update={"status": "rejected", "stop_reason": f"The cell was rejected: {reason}"},
    )
