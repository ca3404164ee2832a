"""Searcher: facts from the web and API documentation from the sandbox, for the coder.

It runs for plan steps of kind "search" (a web search for the step's query) and "docs"
(the documentation of the APIs the step names, looked up inside the sandbox, offline), and
after a cell failed with an AttributeError or TypeError (the documentation of what the cell
called, so the repair starts from the real signature). What it finds goes into the state as
a `Finding`, which the coder's prompt shows. A lookup that cannot run (no network, no API
named) is a finding too, that says so, and the run goes on: it never blocks or hangs.

No model is asked: the query is the step's own words, the names are those the step or the
error mentions.
"""

from __future__ import annotations

import re
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, StreamWriter

from runpad.agents.budget import exhausted_budget, stop
from runpad.agents.session import thread_session
from runpad.agents.steps import advance
from runpad.context import Context
from runpad.events import DocsLookup, FindingMade, SearchStarted
from runpad.state import AnalysisState, Finding, PlanStep
from runpad.tools.docs import format_docs, lookup_docs, names_from_error, names_from_text
from runpad.tools.search import format_search, search_web

__all__ = ["FINDING_CHARS", "LOOKUP_ERRORS", "lookup_targets", "search_or_look_up", "search_query"]

FINDING_CHARS = 3000
"""Characters of a finding kept in state and shown to the coder."""

LOOKUP_ERRORS = ("AttributeError", "TypeError")
"""Errors after which the API the cell used is looked up before the repair."""

_QUERY_PREFIX = re.compile(
    r"^\s*(?:\[search\]\s*)?(?:(?:search|look up|look|find|check)\s+(?:the\s+)?"
    r"(?:web|online|internet)?\s*(?:for|up)?\s*:?\s*)",
    re.I,
)


def search_query(step: PlanStep) -> str:
    """The web query of a search step: its description, without "Search the web for"."""
    description = step["description"].strip()
    query = _QUERY_PREFIX.sub("", description, count=1).strip(" .:")
    return query or description


def lookup_targets(state: AnalysisState) -> list[str]:
    """What to look up after the last cell failed with an AttributeError or TypeError."""
    cells = state.get("cells", [])
    if not cells:
        return []
    cell = cells[-1]
    error = cell["error"]
    if cell["ok"] or error is None or error["name"] not in LOOKUP_ERRORS:
        return []
    return names_from_error(error["name"], error["value"], cell["code"])


async def search_or_look_up(
    state: AnalysisState, runtime: Runtime[Context]
) -> Command[Literal["coder", "searcher", "reporter"]]:
    context = runtime.context
    writer = runtime.stream_writer
    step_index = state.get("step_index", 0)
    step = state["plan"][step_index]
    if step["kind"] not in ("search", "docs"):
        # Sent by the reviewer after an AttributeError / TypeError: document what the cell
        # called, then back to the coder for the repair.
        names = lookup_targets(state)
        if not names:
            return Command(goto="coder")
        finding = await _look_up(names, step_index, state, context, writer)
        return Command(goto="coder", update={"findings": [finding]})
    if reason := exhausted_budget(state, context.limits):
        return stop(reason)
    if step["kind"] == "search":
        finding = await _search(search_query(step), step_index, context, writer)
    else:
        names = names_from_text(step["description"])
        if names:
            finding = await _look_up(names, step_index, state, context, writer)
        else:
            finding = _finding(
                step_index,
                "docs",
                step["description"],
                "The step names no API to look up: name it in backticks, e.g. "
                "`pandas.DataFrame.merge`.",
                ok=False,
            )
            writer(FindingMade(type="finding", **finding))
    return advance(state, {"findings": [finding]})


async def _search(query: str, step: int, context: Context, writer: StreamWriter) -> Finding:
    writer(SearchStarted(type="search", step=step + 1, query=query))
    outcome = await search_web(
        query, timeout=context.search_timeout, provider=context.search, max_results=5
    )
    finding = _finding(step, "search", query, format_search(outcome), ok=outcome.ok)
    writer(FindingMade(type="finding", **finding))
    return finding


async def _look_up(
    names: list[str], step: int, state: AnalysisState, context: Context, writer: StreamWriter
) -> Finding:
    writer(DocsLookup(type="docs", step=step + 1, names=names))
    sandbox = await thread_session(state, context, writer)
    entries = await lookup_docs(sandbox, names)
    ok = any(entry.found for entry in entries)
    text = format_docs(entries, FINDING_CHARS)
    finding = _finding(step, "docs", ", ".join(names), text, ok=ok)
    writer(FindingMade(type="finding", **finding))
    return finding


def _finding(
    step: int, kind: Literal["search", "docs"], query: str, text: str, *, ok: bool
) -> Finding:
    if len(text) > FINDING_CHARS:
        text = text[: FINDING_CHARS - 20].rstrip() + "\n[... cut ...]"
    return Finding(step=step, kind=kind, query=query, text=text, ok=ok)
