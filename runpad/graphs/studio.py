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
import time
from dataclasses import dataclass

from langgraph.graph.state import CompiledStateGraph

from runpad.graphs.analysis import AnalysisInput, build_analysis_graph
from runpad.sandbox.base import Sandbox
from runpad.sandbox.limits import Limits
from runpad.sandbox.manager import SandboxManager
from runpad.state import AnalysisState, Context

__all__ = ["IDLE_SECONDS", "StudioContext", "build_studio_graph", "graph"]

IDLE_SECONDS = 600.0
"""A thread's sandbox session that ran nothing for this long is closed (its next cell
rebuilds it: the executor replays the cells that worked)."""


class IdleClosingSandboxManager(SandboxManager):
    """A SandboxManager that closes the sessions of threads idle for `idle_seconds`.

    The check runs whenever a session is asked for, so an idle server holds its sessions
    until the next cell; every session also ends with the server's process (bubblewrap's
    --die-with-parent).
    """

    def __init__(
        self, backend: str, *, limits: Limits | None = None, idle_seconds: float = IDLE_SECONDS
    ) -> None:
        super().__init__(backend, limits=limits)
        self.idle_seconds = idle_seconds
        self._last_used: dict[str, float] = {}

    async def session(self, thread_id: str) -> tuple[Sandbox, bool]:
        now = time.monotonic()
        idle = [
            thread
            for thread, used in self._last_used.items()
            if thread != thread_id and now - used > self.idle_seconds
        ]
        for thread in idle:
            del self._last_used[thread]
            await self.discard(thread)
        self._last_used[thread_id] = now
        return await super().session(thread_id)


# The server makes a new Context for every run (from the run's JSON settings), but a
# thread's sandbox session must outlive its runs: a run that stops at an approval is resumed
# by another run, and the kernel's variables should still be there. So the sessions live in
# one manager per (backend, limits) for the whole server process. All runs of `langgraph
# dev` share its event loop, which the sessions are bound to.
_MANAGERS: dict[tuple[str, Limits], IdleClosingSandboxManager] = {}


def _shared_manager(backend: str, limits: Limits) -> IdleClosingSandboxManager:
    key = (backend, limits)
    manager = _MANAGERS.get(key)
    if manager is None:
        manager = _MANAGERS[key] = IdleClosingSandboxManager(backend, limits=limits)
    return manager


@dataclass(frozen=True)
class StudioContext(Context):
    """The run Context under the LangGraph server: the same settings, with the sandbox
    sessions kept per thread across runs (see `IdleClosingSandboxManager`)."""

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
