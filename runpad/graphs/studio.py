"""The analysis graph as LangGraph Studio and the LangGraph API server load it.

`langgraph.json` at the repository root names `runpad.graphs.studio:graph`: the analysis
graph compiled without a checkpointer (the server brings its own), with `StudioContext` as
its context schema, so that the run settings (models, sandbox, limits, approval) are the
"configuration" form of each run. Building it is cheap and touches nothing outside memory.

Example:
    ```bash
    LANGGRAPH_CLI_NO_ANALYTICS=1 LANGGRAPH_NO_VERSION_CHECK=true langgraph dev
    ```
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from langgraph.graph.state import CompiledStateGraph

from runpad.context import Context
from runpad.graphs.analysis import AnalysisInput, build_analysis_graph
from runpad.sandbox.limits import Limits
from runpad.sandbox.manager import SandboxManager
from runpad.state import AnalysisState

__all__ = ["IDLE_SECONDS", "StudioContext", "build_studio_graph", "graph"]

IDLE_SECONDS = 600.0
"""A thread's sandbox session that ran nothing for this long is closed (its next cell
rebuilds it: the executor replays the cells that worked)."""


# The server makes a new Context for every run (from the run's JSON settings), but a
# thread's sandbox session must outlive its runs: a run that stops at an approval is resumed
# by another run, and the kernel's variables should still be there. So the sessions live in
# one manager per (backend, limits) for the whole server process. All runs of `langgraph
# dev` share its event loop, which the sessions are bound to.
_MANAGERS: dict[tuple[str, Limits], SandboxManager] = {}


def _shared_manager(backend: str, limits: Limits) -> SandboxManager:
    key = (backend, limits)
    manager = _MANAGERS.get(key)
    if manager is None:
        manager = _MANAGERS[key] = SandboxManager(backend, limits=limits, idle_seconds=IDLE_SECONDS)
    return manager


@dataclass(frozen=True)
class StudioContext(Context):
    """The run Context under the LangGraph server: the same settings, with the sandbox
    sessions kept per thread across runs, closed after `IDLE_SECONDS` without a cell."""

    def __post_init__(self) -> None:
        if self.sandboxes is None:
            limits = self.sandbox_limits
            if isinstance(limits, dict):
                limits = Limits(**limits)
            object.__setattr__(self, "sandboxes", _shared_manager(self.sandbox, limits))
        super().__post_init__()


def build_studio_graph() -> CompiledStateGraph[
    AnalysisState, Context, AnalysisInput, AnalysisState
]:
    """The analysis graph for the LangGraph server: no checkpointer, `StudioContext`."""
    builder = build_analysis_graph()
    builder.context_schema = StudioContext
    return builder.compile(name="runpad")


graph = build_studio_graph()
"""What `langgraph.json` serves."""


async def close_sessions() -> None:
    """Close every sandbox session the server holds (for tests and orderly shutdowns)."""
    managers = list(_MANAGERS.values())
    _MANAGERS.clear()
    await asyncio.gather(*(manager.aclose() for manager in managers))
