"""Planner: a short list of steps, each with the output that shows it worked."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from runpad.agents.llm import ask
from runpad.agents.parsing import parse_plan
from runpad.prompts import render_prompt
from runpad.state import AnalysisState, Context

__all__ = ["file_names", "plan_task"]


def file_names(state: AnalysisState) -> list[str]:
    """Names the input files have in the sandbox work dir."""
    return [path.rsplit("/", 1)[-1] for path in state.get("files", [])]


async def plan_task(state: AnalysisState, runtime: Runtime[Context]) -> dict[str, Any]:
    context = runtime.context
    max_steps = context.limits.max_plan_steps
    prompt = render_prompt(
        "planner",
        context.prompts,
        task=state["task"],
        files=file_names(state),
        failure_notes=state.get("failure_notes", []),
        max_steps=max_steps,
    )
    reply = await ask("planner", prompt, state, context)
    return {
        **reply.update,
        "plan": parse_plan(reply.text, state["task"], max_steps),
        "step_index": 0,
        "attempt": 0,
        "draft": None,
        "feedback": None,
    }
