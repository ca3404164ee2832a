"""Coder: one cell for the current step, from everything the run has learned so far.

The cell's language follows the step's kind: SQL for "sql" steps (when the run has
databases; their schemas, with the dialect, go into the prompt), Graphviz DOT for "dot"
steps, JavaScript or TypeScript (the sandbox's Deno kernel) for "javascript" and
"typescript" steps, Python otherwise. What the searcher found (web results, API documentation) is in
the prompt too.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from runpad.agents.budget import exhausted_budget, stop
from runpad.agents.llm import ask
from runpad.agents.parsing import extract_code
from runpad.agents.planner import file_columns, file_names
from runpad.agents.voting import (
    count_votes,
    give_up_on_try,
    is_voting,
    sample_cells,
    sample_index,
    tally,
)
from runpad.cells import DENO_KERNEL_LANGUAGES
from runpad.context import Context
from runpad.prompts import render_prompt
from runpad.sandbox.kernel.deno import npm_package_names
from runpad.state import AnalysisState, CellLanguage, CellRecord, Finding, PlanStep

__all__ = ["PROMPT_CELLS", "PROMPT_FINDINGS", "cell_language", "last_error_text", "write_cell"]

PROMPT_CELLS = 6
"""How many of the latest cells the coder sees (older ones are still in the kernel)."""

PROMPT_FINDINGS = 4
"""How many of the latest findings (searches, documentation lookups) the coder sees."""


def cell_language(step: PlanStep, context: Context) -> CellLanguage:
    """The language of the cell a step needs: sql (given databases), dot, javascript,
    typescript, else python."""
    kind = step["kind"]
    if kind == "sql" and context.databases:
        return "sql"
    if kind == "dot" or kind == "javascript" or kind == "typescript":
        return kind
    return "python"


def no_code_feedback(language: str) -> str:
    return (
        f"Your reply had no code block. Reply with exactly one ```{language} block containing "
        "the complete cell, and no other text."
    )


async def database_schemas(context: Context) -> list[str]:
    """The schema text of every database of the run, for the prompt of a SQL step."""
    return [(await context.database(name).aschema()).text() for name in context.databases]


def last_error_text(cells: list[CellRecord], step_index: int) -> str | None:
    """The last cell's error, when it failed during the current step."""
    if not cells:
        return None
    last = cells[-1]
    if last["ok"] or last["step"] != step_index:
        return None
    error = last["error"]
    assert error is not None
    return error["traceback"][-2000:] or f"{error['name']}: {error['value']}"


async def write_cell(
    state: AnalysisState, runtime: Runtime[Context]
) -> Command[Literal["static_check", "coder", "executor", "planner", "reporter"]]:
    context = runtime.context
    voting = is_voting(state, context)
    if reason := exhausted_budget(state, context.limits):
        if voting and tally(state.get("votes", [])) is not None:
            return count_votes(state, context, state["votes"])  # what the samples so far say
        return stop(reason)
    step_index = state.get("step_index", 0)
    plan = state["plan"]
    language = cell_language(plan[step_index], context)
    # Each sample of a vote is drawn on its own: it never sees its siblings' cells.
    seen = sample_cells(state) if voting else state.get("cells", [])
    cells: list[CellRecord] = seen[-PROMPT_CELLS:]
    findings: list[Finding] = state.get("findings", [])[-PROMPT_FINDINGS:]
    prompt = render_prompt(
        "coder",
        context.prompts_for("coder"),
        task=state["task"],
        files=file_names(state),
        columns=await asyncio.to_thread(file_columns, state),
        plan=plan,
        step_index=step_index,
        cells=cells,
        last_error=last_error_text(seen, step_index),
        feedback=state.get("feedback"),
        language=language,
        findings=findings,
        schemas=await database_schemas(context) if language == "sql" else [],
        packages=npm_package_names() if language in DENO_KERNEL_LANGUAGES else [],
    )
    sample = sample_index(state) if voting else 0
    reply = await ask("coder", prompt, state, context, sample=sample)
    code = extract_code(reply.text, language)
    if code is not None:
        return Command(
            goto="static_check",
            update={**reply.update, "draft": {"code": code, "language": language}},
        )
    attempt = state.get("attempt", 0) + 1
    if attempt >= context.limits.max_attempts_per_step:
        why = f"The coder wrote no code block for step {step_index + 1} in {attempt} tries."
        return give_up_on_try(state, context, why, **reply.update, attempt=attempt)
    return Command(
        goto="coder",
        update={
            **reply.update,
            "attempt": attempt,
            "draft": None,
            "feedback": no_code_feedback(language),
        },
    )
