"""Router: decide whether a task needs code at all, before anything costs a sandbox run."""

from __future__ import annotations

import time
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from runpad.agents.llm import ask
from runpad.agents.parsing import parse_route
from runpad.agents.planner import file_names
from runpad.context import Context
from runpad.prompts import render_prompt
from runpad.state import AnalysisState

__all__ = ["route_task"]


async def route_task(
    state: AnalysisState, runtime: Runtime[Context]
) -> Command[Literal["planner", "reporter"]]:
    """Answer directly (a greeting, a certain one-line fact) or send the task to the planner."""
    context = runtime.context
    prompt = render_prompt(
        "router",
        context.prompts_for("router"),
        task=state["task"],
        files=file_names(state),
        databases=list(context.databases),
    )
    reply = await ask("router", prompt, state, context)
    route, answer = parse_route(reply.text)
    update = {
        **reply.update,
        "started_at": state.get("started_at") or time.time(),
        "status": "running",
        "route": route,
        "answer": answer,
        "step_index": 0,
        "attempt": 0,
        "replans": 0,
        "failure_notes": [],
        "draft": None,
        "feedback": None,
        "stop_reason": None,
    }
    return Command(goto="reporter" if route == "answer" else "planner", update=update)
