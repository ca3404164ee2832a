"""`run_python`: a LangChain tool that runs code in a stateful sandbox session.

Any LangChain agent can use it. The model gets a compact text (streams, the last
expression's value, the error's traceback, the files written), cut to a size a prompt can
afford; the whole `Execution` rides along as the ToolMessage's artifact.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Annotated, Any, Literal, Self, TypeAlias, TypeVar

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools import BaseTool
from langchain_core.tools.base import ArgsSchema
from pydantic import BaseModel, Field, PrivateAttr, SkipValidation

from runpad.errors import ConfigurationError
from runpad.sandbox.base import Sandbox
from runpad.sandbox.pool import SandboxPool
from runpad.sandbox.results import Execution
from runpad.sandbox.sync import SyncSandbox

__all__ = [
    "RUN_PYTHON_DESCRIPTION",
    "RunPythonInput",
    "RunPythonTool",
    "SandboxSource",
    "format_execution",
]

T = TypeVar("T")

SandboxSource: TypeAlias = Sandbox | SyncSandbox | SandboxPool | Callable[[], Sandbox]
"""Where the tool gets its session: a session, a sync-wrapped session, a pool, a factory."""

RUN_PYTHON_DESCRIPTION = """\
Run Python code in a persistent, sandboxed IPython session and see what it produced.
- The session is stateful, like a notebook: variables, imports and functions from earlier \
calls are still defined. Build on them instead of recomputing.
- Files live in the current working directory: read inputs from it and write outputs to \
it; the files a call creates or changes are listed in its result.
- The value of the last expression is shown, as in a notebook; print() anything else you \
need to see. Matplotlib figures are captured.
- The data stack is installed (numpy, pandas, matplotlib, scipy, scikit-learn, ...).
- If the code raises, the error and its traceback come back: fix the code and call again."""


class RunPythonInput(BaseModel):
    """The arguments the model gives `run_python`."""

    code: str = Field(description="Python source to run as one cell.")
    timeout: float | None = Field(
        default=None,
        gt=0,
        description="Seconds this cell may run before it is interrupted; "
        "leave out for the session's default.",
    )


# -- what the model reads --------------------------------------------------------------------


def format_execution(execution: Execution, max_chars: int = 4000) -> str:
    """A compact text of what a cell produced, for a model to read.

    Sections appear only when they have content: stdout, stderr, the last expression's
    value, other displayed objects, the error with its traceback, the files written. When
    the whole is longer than `max_chars`, the longest sections are cut first, keeping
    their head and tail (a traceback keeps mostly its end, where the error is).
    """
    sections: list[tuple[str, str, float]] = []  # (label, text, share of a cut kept as head)
    if execution.stdout:
        sections.append(("stdout", execution.stdout.rstrip("\n"), 0.5))
    if execution.stderr:
        sections.append(("stderr", execution.stderr.rstrip("\n"), 0.5))
    if (result := execution.text) is not None:
        sections.append(("result", result, 0.5))
    for shown in execution.results:
        if not shown.is_main_result:
            kinds = ", ".join(t for t in shown.mime_types if t != "text/plain")
            text = shown.text or "(no text form)"
            sections.append(("display", f"{text} ({kinds})" if kinds else text, 0.5))
    if (error := execution.error) is not None:
        summary = f"{error.name}: {error.value}"
        traceback = error.traceback.rstrip("\n")
        text = traceback if traceback.endswith(summary) else f"{traceback}\n{summary}".strip()
        sections.append(("error", text, 0.2))
    if execution.restarted:
        sections.append(("note", "The kernel was restarted: variables are gone, files stay.", 1))
    notes = [
        f"the whole {name} is in the file {spill}"
        for name, spill in (("stdout", execution.stdout_spill), ("stderr", execution.stderr_spill))
        if spill
    ]
    if notes:
        sections.append(("note", "; ".join(notes).capitalize() + ".", 1))
    if execution.artifacts:
        files = ", ".join(f"{a.name} ({_human_size(a.size)})" for a in execution.artifacts)
        sections.append(("files written", files, 0.5))
    if not sections:
        return "(the code ran and produced no output; end with an expression or print() it)"
    fitted = _fit([text for _, text, _ in sections], [head for *_, head in sections], max_chars)
    return "\n".join(
        f"[{label}]\n{text}" for (label, _, _), text in zip(sections, fitted, strict=True)
    )


def _fit(texts: list[str], head_shares: list[float], budget: int) -> list[str]:
    """Cut the longest texts to a common length so that the total fits in `budget`."""
    sizes = [len(text) for text in texts]
    if sum(sizes) <= budget:
        return texts
    # The largest cap that fits: short texts stay whole, long ones share what is left.
    low, high = 0, max(sizes)
    while low < high:
        cap = (low + high + 1) // 2
        if sum(min(size, cap) for size in sizes) <= budget:
            low = cap
        else:
            high = cap - 1
    return [
        _head_tail(text, low, share) if len(text) > low else text
        for text, share in zip(texts, head_shares, strict=True)
    ]


def _head_tail(text: str, keep: int, head_share: float) -> str:
    head = int(keep * head_share)
    tail = keep - head
    omitted = len(text) - head - tail
    tail_text = text[len(text) - tail :] if tail else ""
    return f"{text[:head]}\n[... {omitted} characters omitted ...]\n{tail_text}"


def _human_size(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    if size < 1000_000:
        return f"{size / 1000:.1f} kB"
    return f"{size / 1000_000:.1f} MB"


# -- running on the session's event loop ------------------------------------------------------

_STARTED_ELSEWHERE = (
    "RunPythonTool was called synchronously with a session that was started on an event loop "
    "it cannot see. Call it with `await tool.ainvoke(...)` on that loop, or give it a "
    "SyncSandbox, a session that is not started yet, or a factory."
)
_LOOP_GONE = (
    "The event loop that RunPythonTool's session lives on is not running any more (a session "
    "lives on the loop that started it); create the tool, and its session, on the loop that "
    "calls it."
)


async def _on_loop(
    loop: asyncio.AbstractEventLoop | None, make: Callable[[], Coroutine[Any, Any, T]]
) -> T:
    """Await `make()` on `loop` (None: the running loop) from a coroutine on any loop."""
    if loop is None or loop is asyncio.get_running_loop():
        return await make()
    if loop.is_closed() or not loop.is_running():
        raise ConfigurationError(_LOOP_GONE)
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(make(), loop))


def _on_loop_sync(
    loop: asyncio.AbstractEventLoop | None, make: Callable[[], Coroutine[Any, Any, T]]
) -> T:
    """Run `make()` on `loop`, which runs in another thread, and block until it is done."""
    if loop is None:
        raise ConfigurationError(_STARTED_ELSEWHERE)
    try:
        current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    if loop is current:
        raise ConfigurationError(
            "RunPythonTool was called synchronously from the event loop its session runs on, "
            "which would wait forever; use `await tool.ainvoke(...)` there."
        )
    if loop.is_closed() or not loop.is_running():
        raise ConfigurationError(_LOOP_GONE)
    return asyncio.run_coroutine_threadsafe(make(), loop).result()


@dataclass(frozen=True)
class _Session:
    sandbox: Sandbox
    loop: asyncio.AbstractEventLoop | None  # None: a caller's session, used on the caller's loop
    owned: bool  # the tool started it, so the tool closes it
    portal: SyncSandbox | None = None  # the session lives on this SyncSandbox's loop


class RunPythonTool(BaseTool):
    """The `run_python` tool over one sandbox session, for any LangChain agent.

    Args:
        sandbox: where the session comes from:
            - a started `Sandbox`: used as it is, on the event loop that calls the tool
              (`ainvoke`); you close it.
            - a `SyncSandbox`: for sync code (`invoke`) as well as async; you close it.
            - a `SandboxPool`, a `Sandbox` not started yet, or a factory
              (`lambda: open_sandbox("local")`): the session is started (or acquired) on
              first use, and `close()` / `aclose()` (or `with` / `async with`) closes it.
        max_output_chars: the size of the text the model gets back.
        max_timeout: the longest `timeout` the model may ask for a cell; None for no cap.

    Sync calls (`invoke`, sync agents) run on the session's own event loop in another
    thread: a sandbox session belongs to the loop that started it, so running it from a
    fresh `asyncio.run()` per call would break it. A session the tool starts for a sync
    call gets a private loop thread (a SyncSandbox). Cells of one tool run one at a time,
    in call order, because they share one interpreter.

    Example:
        ```python
        from langgraph.prebuilt import create_react_agent
        from runpad.sandbox import open_sandbox
        from runpad.tools import RunPythonTool

        async with RunPythonTool(lambda: open_sandbox("local")) as run_python:
            agent = create_react_agent("openai:gpt-4.1", [run_python])
            await agent.ainvoke({"messages": [("user", "What is 2**100?")]})
        ```
    """

    name: str = "run_python"
    description: str = RUN_PYTHON_DESCRIPTION
    args_schema: ArgsSchema | None = RunPythonInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"

    sandbox: Annotated[SandboxSource, SkipValidation()] = Field(exclude=True)
    max_output_chars: int = Field(default=4000, ge=200)
    max_timeout: float | None = Field(default=600.0, gt=0)

    _opening: concurrent.futures.Future[_Session] | None = PrivateAttr(default=None)
    _state_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _run_lock: asyncio.Lock | None = PrivateAttr(default=None)

    def __init__(self, sandbox: SandboxSource, **kwargs: Any) -> None:
        if not isinstance(sandbox, Sandbox | SyncSandbox | SandboxPool) and not callable(sandbox):
            raise ConfigurationError(
                "RunPythonTool needs a Sandbox, a SyncSandbox, a SandboxPool or a function "
                f"that makes a Sandbox; got {type(sandbox).__name__}."
            )
        super().__init__(sandbox=sandbox, **kwargs)

    # -- the tool ---------------------------------------------------------------------------

    def _run(
        self,
        code: str,
        timeout: float | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str, dict[str, Any]]:
        session = self._session_sync()
        execution = _on_loop_sync(
            session.loop, lambda: self._run_cell(session.sandbox, code, timeout)
        )
        return self._response(execution)

    async def _arun(
        self,
        code: str,
        timeout: float | None = None,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> tuple[str, dict[str, Any]]:
        session = await self._session_async()
        execution = await _on_loop(
            session.loop, lambda: self._run_cell(session.sandbox, code, timeout)
        )
        return self._response(execution)

    def _response(self, execution: Execution) -> tuple[str, dict[str, Any]]:
        return format_execution(execution, self.max_output_chars), execution.to_dict()

    async def _run_cell(self, sandbox: Sandbox, code: str, timeout: float | None) -> Execution:
        if timeout is not None and self.max_timeout is not None:
            timeout = min(timeout, self.max_timeout)
        if self._run_lock is None:  # made here, on the loop the session lives on
            self._run_lock = asyncio.Lock()
        async with self._run_lock:
            return await sandbox.run(code, timeout=timeout)

    # -- the session --------------------------------------------------------------------------

    def _claim_opening(self) -> tuple[concurrent.futures.Future[_Session], bool]:
        """The future of the session, and whether this caller must open it."""
        with self._state_lock:
            if self._opening is None:
                self._opening = concurrent.futures.Future()
                return self._opening, True
            return self._opening, False

    def _open_failed(self, future: concurrent.futures.Future[_Session], exc: BaseException) -> None:
        with self._state_lock:
            self._opening = None  # the next call tries again
        future.set_exception(exc)

    async def _session_async(self) -> _Session:
        future, mine = self._claim_opening()
        if not mine:
            return await asyncio.wrap_future(future)
        try:
            session = await self._open_async()
        except BaseException as exc:
            self._open_failed(future, exc)
            raise
        future.set_result(session)
        return session

    def _session_sync(self) -> _Session:
        future, mine = self._claim_opening()
        if not mine:
            return future.result()
        try:
            session = self._open_sync()
        except BaseException as exc:
            self._open_failed(future, exc)
            raise
        future.set_result(session)
        return session

    async def _open_async(self) -> _Session:
        source = self.sandbox
        if isinstance(source, SyncSandbox):
            owned = not source.is_running
            if owned:
                await asyncio.to_thread(source.start)
            return _Session(source.sandbox, source.loop, owned=owned, portal=source)
        if isinstance(source, SandboxPool):
            sandbox = await _on_loop(source.loop, source.acquire)
            return _Session(sandbox, source.loop, owned=True)
        if isinstance(source, Sandbox) and source.is_running:
            return _Session(source, None, owned=False)
        sandbox = source if isinstance(source, Sandbox) else source()
        await sandbox.start()
        return _Session(sandbox, asyncio.get_running_loop(), owned=True)

    def _open_sync(self) -> _Session:
        source = self.sandbox
        if isinstance(source, SyncSandbox):
            owned = not source.is_running
            if owned:
                source.start()
            return _Session(source.sandbox, source.loop, owned=owned, portal=source)
        if isinstance(source, SandboxPool):
            if source.loop is None:
                raise ConfigurationError(
                    "RunPythonTool was called synchronously with a SandboxPool that was never "
                    "started; start the pool on the event loop that will serve its sessions."
                )
            sandbox = _on_loop_sync(source.loop, source.acquire)
            return _Session(sandbox, source.loop, owned=True)
        if isinstance(source, Sandbox) and source.is_running:
            raise ConfigurationError(_STARTED_ELSEWHERE)
        portal = SyncSandbox(source if isinstance(source, Sandbox) else source())
        try:
            portal.start()
        except BaseException:
            portal.close()
            raise
        return _Session(portal.sandbox, portal.loop, owned=True, portal=portal)

    def _take_session(self) -> concurrent.futures.Future[_Session] | None:
        with self._state_lock:
            future, self._opening = self._opening, None
            self._run_lock = None
        return future

    # -- closing ------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the session if the tool started it; the next call starts a new one."""
        future = self._take_session()
        if future is None:
            return
        try:
            session = await asyncio.wrap_future(future)
        except Exception:
            return  # it never opened
        if not session.owned:
            return
        if session.portal is not None:
            await asyncio.to_thread(session.portal.close)
        else:
            await _on_loop(session.loop, session.sandbox.close)

    def close(self) -> None:
        """Sync `aclose()`: close the session if the tool started it."""
        future = self._take_session()
        if future is None:
            return
        try:
            session = future.result()
        except Exception:
            return
        if not session.owned:
            return
        if session.portal is not None:
            session.portal.close()
        else:
            _on_loop_sync(session.loop, session.sandbox.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.shield(self.aclose())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
