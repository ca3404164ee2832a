"""Synchronous calls of the analysis graph: `invoke`, `stream` and `batch` from sync code.

runpad's nodes are coroutines: they wait on models and sandboxes without holding a thread.
LangGraph runs a node in a synchronous call (`graph.invoke`, a sync LangChain chain) only
when the node has a synchronous function too. `with_sync_nodes` gives every coroutine node
one (`build_analysis_graph` applies it; apply it to graphs of your own), the way LangGraph's
own prebuilt agents pair `call_model` with `acall_model`: the sync version runs the
coroutine on runpad's sync event loop, a daemon thread shared by the process, and waits for
it. The async methods (`ainvoke`, `astream`, `astream_events`,
`abatch`) keep calling the coroutines directly.

The sync loop is one for the whole process because a sandbox session belongs to the event
loop that started it: every node of every sync call must reach a thread's session on the
same loop. Close the sessions of a Context used from sync code with `close_sync_sessions`.

Example:
    ```python
    graph = build_analysis_graph().compile(checkpointer=InMemorySaver())
    state = graph.invoke({"task": "2 ** 100?"}, config, context=context)  # sync
    close_sync_sessions(context)
    ```
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

# LangGraph's own node type with a sync and an async function (langgraph-prebuilt uses it so).
from langgraph._internal._runnable import RunnableCallable
from langgraph.graph import StateGraph

from runpad.bridge import EventLoopThread
from runpad.context import Context

__all__ = ["close_sync_sessions", "run_on_sync_loop", "with_sync_nodes"]

_T = TypeVar("_T")
_GraphT = TypeVar("_GraphT", bound=StateGraph[Any, Any, Any, Any])

_lock = threading.Lock()
_loop_thread: EventLoopThread | None = None


def _sync_loop() -> EventLoopThread:
    global _loop_thread
    with _lock:
        if _loop_thread is None or not _loop_thread.is_running:
            _loop_thread = EventLoopThread(name="runpad-sync-nodes")
        return _loop_thread


def run_on_sync_loop(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run `coroutine` on runpad's sync event loop and wait for its result.

    The caller's context variables (LangGraph's config, the stream writer) go with it:
    `call_soon_threadsafe` copies them into the task it starts.
    """
    return _sync_loop().call(coroutine)


def close_sync_sessions(context: Context) -> None:
    """Close what sync graph calls opened for `context` (`Context.aclose` on the sync loop)."""
    run_on_sync_loop(context.aclose())


def with_sync_nodes(builder: _GraphT) -> _GraphT:
    """Give each coroutine node of `builder` a synchronous version; returns `builder`.

    Idempotent, and nodes that already have a sync function are left as they are.
    """
    for name, spec in list(builder.nodes.items()):
        runnable = spec.runnable
        if not isinstance(runnable, RunnableCallable) or runnable.func is not None:
            continue
        afunc = runnable.afunc
        if afunc is None or not inspect.iscoroutinefunction(afunc):
            continue
        both = RunnableCallable(_blocking(afunc), afunc, name=name, trace=False)
        builder.nodes[name] = dataclasses.replace(spec, runnable=both)
    return builder


def _blocking(afunc: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    @functools.wraps(afunc)  # the same signature: LangGraph passes the same arguments
    def call(*args: Any, **kwargs: Any) -> Any:
        return run_on_sync_loop(afunc(*args, **kwargs))

    return call
