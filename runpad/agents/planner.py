"""Planner: a short list of steps, each with its kind and the output that shows it worked."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from runpad.agents.llm import ask
from runpad.agents.parsing import parse_plan
from runpad.agents.steps import step_node
from runpad.context import Context
from runpad.prompts import render_prompt
from runpad.state import AnalysisState

__all__ = ["database_dialects", "file_names", "plan_task"]


def file_names(state: AnalysisState) -> list[str]:
    """Names the input files have in the sandbox work dir."""
    return [path.rsplit("/", 1)[-1] for path in state.get("files", [])]


def database_dialects(context: Context) -> dict[str, str]:
    """Each database's name and dialect ("sqlite", "postgresql", ...), without connecting."""
    return {name: context.database(name).dialect for name in context.databases}


async def plan_task(
    state: AnalysisState, runtime: Runtime[Context]
) -> Command[Literal["coder", "searcher"]]:
    context = runtime.context
    max_steps = context.limits.max_plan_steps
    prompt = render_prompt(
        "planner",
        context.prompts_for("planner"),
        task=state["task"],
        files=file_names(state),
        failure_notes=state.get("failure_notes", []),
        max_steps=max_steps,
        databases=database_dialects(context),
    )
    reply = await ask("planner", prompt, state, context)
    plan = parse_plan(reply.text, state["task"], max_steps)
    return Command(
        goto=step_node(plan[0]),
        update={
            **reply.update,
            "plan": plan,
            "step_index": 0,
            "attempt": 0,
            "draft": None,
            "feedback": None,
            "votes": [],
        },
    )
