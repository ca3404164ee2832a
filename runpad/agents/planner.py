"""Planner: a short list of steps, each with its kind and the output that shows it worked."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from runpad.agents.llm import ask
from runpad.agents.parsing import parse_plan
from runpad.agents.steps import step_node
from runpad.context import Context
from runpad.errors import RunpadError
from runpad.prompts import render_prompt
from runpad.sandbox.factory import sandbox_class
from runpad.sandbox.results import Language
from runpad.state import AnalysisState

__all__ = ["database_dialects", "file_columns", "file_names", "plan_task", "sandbox_languages"]


def file_names(state: AnalysisState) -> list[str]:
    """Names the input files have in the sandbox work dir."""
    return [path.rsplit("/", 1)[-1] for path in state.get("files", [])]


TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
"""Input files whose first line names their columns, and the delimiter of each."""

_HEADER_CHARS = 4096  # of the first line read; a wider header is cut at a column
_MAX_COLUMNS = 60


def file_columns(state: AnalysisState) -> dict[str, list[str]]:
    """The column names of each CSV or TSV input file, from its first line, by the name
    the file has in the sandbox. Without them a small model guesses column names (17 of
    the 28 stopped dabench runs of the 0.5B were a KeyError on a guessed column). A file
    that cannot be read here (moved, not text) is left out: the code finds out itself.
    It reads files: call it off the event loop."""
    columns: dict[str, list[str]] = {}
    for path in state.get("files", []):
        delimiter = TABLE_SUFFIXES.get(Path(path).suffix.lower())
        if delimiter is None:
            continue
        try:
            with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
                first = handle.readline(_HEADER_CHARS)
        except OSError:
            continue
        names = next(csv.reader([first], delimiter=delimiter), [])
        if first and not first.endswith("\n") and len(names) > 1:
            names = names[:-1]  # cut inside the last name
        names = [name.strip() for name in names]
        if any(names):
            columns[path.rsplit("/", 1)[-1]] = names[:_MAX_COLUMNS]
    return columns


def database_dialects(context: Context) -> dict[str, str]:
    """Each database's name and dialect ("sqlite", "postgresql", ...), without connecting."""
    return {name: context.database(name).dialect for name in context.databases}


async def sandbox_languages(context: Context) -> tuple[Language, ...]:
    """The cell languages of the run's sandbox backend (`Sandbox.languages`); starts nothing.

    A backend that cannot even load here says why at its first cell; until then it is
    taken to run Python and shell, as every backend does.
    """
    try:
        # Importing a backend reads files: in a thread, because an async node must not block.
        backend = await asyncio.to_thread(sandbox_class, context.sandbox_manager.backend)
    except (RunpadError, ImportError):
        return ("python", "shell")
    return backend.languages


async def plan_task(
    state: AnalysisState, runtime: Runtime[Context]
) -> Command[Literal["coder", "searcher"]]:
    context = runtime.context
    max_steps = context.limits.max_plan_steps
    if getattr(context.model_for("planner"), "one_step_plan", False):
        text, update = await _one_step_plan(state, context)
    else:
        prompt = render_prompt(
            "planner",
            context.prompts_for("planner"),
            task=state["task"],
            files=file_names(state),
            failure_notes=state.get("failure_notes", []),
            max_steps=max_steps,
            databases=database_dialects(context),
            scripts="typescript" in await sandbox_languages(context),
        )
        reply = await ask("planner", prompt, state, context)
        text, update = reply.text, reply.update
    plan = parse_plan(text, state["task"], max_steps)
    return Command(
        goto=step_node(plan[0]),
        update={
            **update,
            "plan": plan,
            "step_index": 0,
            "attempt": 0,
            "draft": None,
            "feedback": None,
            "votes": [],
        },
    )


async def _one_step_plan(state: AnalysisState, context: Context) -> tuple[str, dict[str, Any]]:
    """The whole task as one step, without a model call, for models on the short prompts.

    Asked to echo the task as a one-step plan, small models wrote 2 to 4 steps in 5 of 30
    tiny tasks, and each step wrote the whole program again (benchmarks/RESULTS.md). The
    plan is recorded like a reply, so a record of the run replays with any model.
    """
    # A run with databases and no files is answered by a query: the step is SQL, so the
    # coder's prompt carries the schemas (as a plain step the 0.5B wrote Python guessing
    # table names). The plan is read line by line: the task goes on one line, whole.
    kind = "[sql] " if context.databases and not file_names(state) else ""
    text = f"1. {kind}{' '.join(state['task'].split())} | check: the answer is printed"
    index = state.get("model_calls", {}).get("planner", 0)
    if context.recorder is not None:
        usage = {"input_tokens": 0, "output_tokens": 0}
        await asyncio.to_thread(context.recorder.record, "planner", index, text, usage)
    return text, {"model_calls": {"planner": 1}, "tokens": 0}
