"""The Python API for whole runs: `run` / `arun` a task, `resume` / `aresume` a thread.

Every step is checkpointed with `durability="sync"`: a step's checkpoint is on disk before
the next step starts, so a run killed at any point resumes from its thread id without
redoing finished steps. A node that was running when the process died runs again (the
executor's cell included); LangGraph saves a node's writes in the background, so a node
killed in the instant after its update was streamed may run again too. Every node is
written to be safe to re-run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command, StreamMode

from runpad.agents.session import thread_dir
from runpad.bridge import run_sync
from runpad.context import Context
from runpad.errors import ConfigurationError, MissingDependencyError, RunNotFound
from runpad.graphs import AnalysisInput, build_analysis_graph
from runpad.models import describe_model
from runpad.report import write_run_files
from runpad.runs import RunResult, RunSummary, recorded_facts, run_result
from runpad.state import AnalysisState, ApprovalDecision, RunStatus

__all__ = [
    "EventHandler",
    "RunResult",
    "RunStatus",
    "RunSummary",
    "aget_run",
    "alist_runs",
    "aresume",
    "arun",
    "new_thread_id",
    "open_checkpointer",
    "resume",
    "run",
]

EventHandler = Callable[[str, Any], Awaitable[None] | None]
"""Called with (stream mode, chunk) for every "tasks" (a node starts or ends), "updates"
(a node's state update) and "custom" (cell output, artifacts, restores) stream event."""
CheckpointerSpec = BaseCheckpointSaver[Any] | str | Path | None

_T = TypeVar("_T")
_STREAM_MODES: list[StreamMode] = ["tasks", "updates", "custom"]


@contextlib.asynccontextmanager
async def open_checkpointer(
    spec: CheckpointerSpec, runs_dir: str | Path
) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """A checkpointer: a saver as given, a PostgreSQL URL, or a SQLite file (the default,
    `<runs_dir>/checkpoints.sqlite`)."""
    if isinstance(spec, BaseCheckpointSaver):
        yield spec
        return
    target = str(spec) if spec is not None else str(Path(runs_dir) / "checkpoints.sqlite")
    if target.startswith(("postgres://", "postgresql://")):
        try:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        except ImportError as exc:
            raise MissingDependencyError(
                "langgraph-checkpoint-postgres", "pip install 'runpad[postgres]'"
            ) from exc
        from psycopg import OperationalError

        async with contextlib.AsyncExitStack() as stack:
            try:
                postgres = await stack.enter_async_context(
                    AsyncPostgresSaver.from_conn_string(target)
                )
            except (OSError, OperationalError) as exc:
                raise ConfigurationError(
                    f"Could not reach the PostgreSQL checkpoint database: {exc}. Check the "
                    "URL and that the server is running."
                ) from exc
            await postgres.setup()
            yield postgres
        return
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    Path(target).parent.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(target) as sqlite:
        yield sqlite


async def arun(
    task: str,
    *,
    files: Sequence[str | Path] = (),
    thread_id: str | None = None,
    context: Context | None = None,
    checkpointer: CheckpointerSpec = None,
    on_event: EventHandler | None = None,
    **settings: Any,
) -> RunResult:
    """Run a task through the analysis graph and return how it ended.

    Args:
        task: the question or job, in words.
        files: local files to put in the sandbox's work dir.
        thread_id: the run's id (default: a new one); resume it with `aresume`.
        context: a full Context; otherwise one is made from `settings` (the Context's
            fields: model, coder_model, sandbox, limits, approve, run_dir, record, ...).
        checkpointer: a saver, a PostgreSQL URL or a SQLite path (default: SQLite in
            the run directory).
        on_event: receives stream events as they happen (node updates, cell output).

    Example:
        ```python
        result = await runpad.arun("What is the 30th prime?", model="openai:gpt-4.1")
        print(result.status, result.answer)
        ```
    """
    if not task.strip():
        raise ConfigurationError("The task is empty: say what runpad should find out.")
    paths = await asyncio.to_thread(lambda: [Path(f).resolve() for f in files])
    if missing := [str(p) for p in paths if not await asyncio.to_thread(p.is_file)]:
        raise ConfigurationError(f"Input file(s) not found: {', '.join(missing)}")
    graph_input = AnalysisInput(task=task, files=[str(p) for p in paths])
    thread_id = thread_id or new_thread_id()
    return await _drive(graph_input, thread_id, context, checkpointer, on_event, settings)


async def aresume(
    thread_id: str,
    *,
    decision: ApprovalDecision | str | None = None,
    context: Context | None = None,
    checkpointer: CheckpointerSpec = None,
    on_event: EventHandler | None = None,
    **settings: Any,
) -> RunResult:
    """Continue a thread: after a crash (no decision), or at its approval interrupt.

    Args:
        decision: the answer to a pending approval ("approve", {"action": "edit",
            "code": ...} or {"action": "reject", "reason": ...}).
    """
    graph_input: Command[Any] | None = Command(resume=decision) if decision is not None else None
    return await _drive(graph_input, thread_id, context, checkpointer, on_event, settings)


def new_thread_id() -> str:
    """A fresh thread id: when the run started, and a random part (20260121-103000-a1b2c3)."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def run(task: str, **options: Any) -> RunResult:
    """`arun` for synchronous code (also inside Jupyter, where a loop already runs)."""
    return run_sync(arun(task, **options))


def resume(thread_id: str, **options: Any) -> RunResult:
    """`aresume` for synchronous code."""
    return run_sync(aresume(thread_id, **options))


async def _drive(
    graph_input: AnalysisInput | Command[Any] | None,
    thread_id: str,
    context: Context | None,
    checkpointer: CheckpointerSpec,
    on_event: EventHandler | None,
    settings: dict[str, Any],
) -> RunResult:
    owns_context = context is None
    if context is None:
        try:
            context = Context(**settings)
        except TypeError as exc:
            raise ConfigurationError(f"Unknown run setting: {exc}") from exc
    elif settings:
        raise ConfigurationError("Pass either context= or individual settings, not both.")
    config: RunnableConfig = {
        "configurable": {"thread_id": thread_id},
        # Our own bounds end every loop; this is only the backstop.
        "recursion_limit": 10 * context.limits.max_cells + 50,
    }
    try:
        async with open_checkpointer(checkpointer, context.run_dir) as saver:
            graph = build_analysis_graph().compile(checkpointer=saver)
            if graph_input is None or isinstance(graph_input, Command):
                snapshot = await graph.aget_state(config)
                if not snapshot.values:
                    raise RunNotFound(thread_id)
                if _will_run_cells(snapshot):
                    context.sandbox_manager.prestart(thread_id)
            async for mode, chunk in graph.astream(
                graph_input,
                config,
                context=context,
                stream_mode=_STREAM_MODES,
                durability="sync",
            ):
                if on_event is not None:
                    outcome = on_event(mode, chunk)
                    if asyncio.iscoroutine(outcome):
                        await outcome
            snapshot = await graph.aget_state(config)
    finally:
        if owns_context:
            await context.aclose()
    values = cast(AnalysisState, snapshot.values)
    result = _result(thread_id, values, snapshot, str(thread_dir(context, thread_id)))
    result = dataclasses.replace(result, model=_describe_models(context), sandbox=context.sandbox)
    await asyncio.to_thread(write_run_files, result)
    return result


def _will_run_cells(snapshot: Any) -> bool:
    """Whether a resumed thread goes on to nodes that run cells (not only the reporter),
    having run some already: its session can start while the nodes before it run."""
    pending = set(snapshot.next)
    cells = cast(AnalysisState, snapshot.values).get("cells", [])
    return bool(pending - {"reporter"}) and any(cell["ok"] for cell in cells)


def _result(
    thread_id: str, values: AnalysisState, snapshot: Any, output_dir: str | None
) -> RunResult:
    pending = None
    for task in snapshot.tasks:
        for interrupt in task.interrupts:
            pending = interrupt.value
    return run_result(
        thread_id,
        values,
        pending=pending,
        output_dir=output_dir,
        finished_at=_checkpoint_time(snapshot),
    )


def _describe_models(context: Context) -> str:
    """The run's model, and each role's own where one has it."""
    roles = [
        f"{role}: {describe_model(model)}"
        for role, model in (
            ("planner", context.planner_model),
            ("coder", context.coder_model),
            ("reviewer", context.reviewer_model),
        )
        if model is not None
    ]
    return "; ".join([describe_model(context.model), *roles])


def _checkpoint_time(snapshot: Any) -> float | None:
    created = getattr(snapshot, "created_at", None)
    return datetime.fromisoformat(created).timestamp() if created else None


async def aget_run(
    thread_id: str, *, checkpointer: CheckpointerSpec = None, run_dir: str | Path = "runs"
) -> RunResult:
    """A run as its latest checkpoint has it (finished, stopped or paused).

    Args:
        checkpointer: the store the run was checkpointed in (default: SQLite in `run_dir`).
        run_dir: the runs' directory, where the run's files lie.

    Raises:
        RunNotFound: the store has no run with this thread id.
    """
    async with open_checkpointer(checkpointer, run_dir) as saver:
        graph = build_analysis_graph().compile(checkpointer=saver)
        snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
    if not snapshot.values:
        raise RunNotFound(thread_id)
    output_dir = Path(run_dir) / thread_id
    result = _result(thread_id, cast(AnalysisState, snapshot.values), snapshot, str(output_dir))
    facts = await asyncio.to_thread(recorded_facts, output_dir)
    return dataclasses.replace(result, **facts)


async def alist_runs(
    *, checkpointer: CheckpointerSpec = None, run_dir: str | Path = "runs"
) -> list[RunSummary]:
    """Every run in a checkpoint store, the most recently active first."""
    times: dict[str, list[str]] = {}
    async with open_checkpointer(checkpointer, run_dir) as saver:
        async for item in saver.alist(None):
            if item.config["configurable"].get("checkpoint_ns"):
                continue  # a subgraph's checkpoint
            thread_id = str(item.config["configurable"]["thread_id"])
            times.setdefault(thread_id, []).append(item.checkpoint["ts"])
        graph = build_analysis_graph().compile(checkpointer=saver)
        summaries = []
        for thread_id, stamps in times.items():
            snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
            if not snapshot.values:
                continue
            result = _result(thread_id, cast(AnalysisState, snapshot.values), snapshot, None)
            summaries.append(
                RunSummary(
                    thread_id=thread_id,
                    status=result.status,
                    task=result.task,
                    cells=len(result.cells),
                    created_at=datetime.fromisoformat(min(stamps)),
                    updated_at=datetime.fromisoformat(max(stamps)),
                    stop_reason=result.stop_reason,
                )
            )
    return sorted(summaries, key=lambda summary: summary.updated_at, reverse=True)
