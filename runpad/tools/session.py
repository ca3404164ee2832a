"""`SandboxTool`: the base of every tool that works in a sandbox session.

A sandbox session belongs to the event loop that started it (its subprocess and sockets
live there), while LangChain calls tools from sync code, from other loops and in parallel.
This base class gets the session from what the caller gave (a session, a sync facade, a
pool or a factory), runs each call on the session's own loop, one at a time, and closes the
session when the tool started it. `run_python`, `render_dot` and `lookup_docs` build on it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Annotated, Any, Self, TypeAlias, TypeVar

from langchain_core.tools import BaseTool
from pydantic import Field, PrivateAttr, SkipValidation

from runpad.bridge import submit_to
from runpad.errors import ConfigurationError
from runpad.sandbox.base import Sandbox
from runpad.sandbox.pool import SandboxPool
from runpad.sandbox.sync import SyncSandbox

__all__ = ["SandboxSource", "SandboxTool"]

T = TypeVar("T")

SandboxSource: TypeAlias = Sandbox | SyncSandbox | SandboxPool | Callable[[], Sandbox]
"""Where a tool gets its session: a session, a sync-wrapped session, a pool, a factory."""


async def _on_loop(
    tool: str, loop: asyncio.AbstractEventLoop | None, make: Callable[[], Coroutine[Any, Any, T]]
) -> T:
    """Await `make()` on `loop` (None: the running loop) from a coroutine on any loop."""
    if loop is None or loop is asyncio.get_running_loop():
        return await make()
    if loop.is_closed() or not loop.is_running():
        raise ConfigurationError(_loop_gone(tool))
    return await asyncio.wrap_future(submit_to(loop, make()))


def _on_loop_sync(
    tool: str, loop: asyncio.AbstractEventLoop | None, make: Callable[[], Coroutine[Any, Any, T]]
) -> T:
    """Run `make()` on `loop`, which runs in another thread, and block until it is done."""
    if loop is None:
        raise ConfigurationError(_started_elsewhere(tool))
    try:
        current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    if loop is current:
        raise ConfigurationError(
            f"{tool} was called synchronously from the event loop its session runs on, "
            "which would wait forever; use `await tool.ainvoke(...)` there."
        )
    if loop.is_closed() or not loop.is_running():
        raise ConfigurationError(_loop_gone(tool))
    return submit_to(loop, make()).result()


def _started_elsewhere(tool: str) -> str:
    return (
        f"{tool} was called synchronously with a session that was started on an event loop "
        "it cannot see. Call it with `await tool.ainvoke(...)` on that loop, or give it a "
        "SyncSandbox, a session that is not started yet, or a factory."
    )


def _loop_gone(tool: str) -> str:
    return (
        f"The event loop that {tool}'s session lives on is not running any more (a session "
        "lives on the loop that started it); create the tool, and its session, on the loop "
        "that calls it."
    )


@dataclass(frozen=True)
class _Session:
    sandbox: Sandbox
    loop: asyncio.AbstractEventLoop | None  # None: a caller's session, used on the caller's loop
    owned: bool  # the tool started it, so the tool closes it
    portal: SyncSandbox | None = None  # the session lives on this SyncSandbox's loop


class SandboxTool(BaseTool):
    """A LangChain tool that works in one sandbox session.

    Args:
        sandbox: where the session comes from:
            - a started `Sandbox`: used as it is, on the event loop that calls the tool
              (`ainvoke`); you close it.
            - a `SyncSandbox`: for sync code (`invoke`) as well as async; you close it.
            - a `SandboxPool`, a `Sandbox` not started yet, or a factory
              (`lambda: open_sandbox("local")`): the session is started (or acquired) on
              first use, and `close()` / `aclose()` (or `with` / `async with`) closes it.

    Subclasses implement `_run` / `_arun` with `self._in_session_sync(work)` /
    `await self._in_session(work)`, where `work(sandbox)` is a coroutine function. Sync
    calls run on the session's own loop in another thread: a session that the tool starts
    for a sync call gets a private loop thread (a SyncSandbox). Calls of one tool run one at
    a time, in call order, because they share one interpreter. To share one session between
    several tools, give each the same started `Sandbox` or `SyncSandbox`.
    """

    # Positional (kw_only=False): `RunPythonTool(sandbox)`. Type checkers synthesize each
    # subclass's __init__ from the fields (pydantic's dataclass_transform), not from ours.
    sandbox: Annotated[SandboxSource, SkipValidation()] = Field(exclude=True, kw_only=False)

    _opening: concurrent.futures.Future[_Session] | None = PrivateAttr(default=None)
    _state_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _run_lock: asyncio.Lock | None = PrivateAttr(default=None)

    def __init__(self, sandbox: SandboxSource, **kwargs: Any) -> None:
        if not isinstance(sandbox, Sandbox | SyncSandbox | SandboxPool) and not callable(sandbox):
            raise ConfigurationError(
                f"{type(self).__name__} needs a Sandbox, a SyncSandbox, a SandboxPool or a "
                f"function that makes a Sandbox; got {type(sandbox).__name__}."
            )
        super().__init__(sandbox=sandbox, **kwargs)

    # -- calling into the session ---------------------------------------------------------------

    def _in_session_sync(self, work: Callable[[Sandbox], Coroutine[Any, Any, T]]) -> T:
        """Run `work(sandbox)` on the session's loop from sync code; return its result."""
        session = self._session_sync()
        return _on_loop_sync(
            type(self).__name__, session.loop, lambda: self._serialized(session.sandbox, work)
        )

    async def _in_session(self, work: Callable[[Sandbox], Coroutine[Any, Any, T]]) -> T:
        """Await `work(sandbox)` on the session's loop, from any loop."""
        session = await self._session_async()
        return await _on_loop(
            type(self).__name__, session.loop, lambda: self._serialized(session.sandbox, work)
        )

    async def _serialized(
        self, sandbox: Sandbox, work: Callable[[Sandbox], Coroutine[Any, Any, T]]
    ) -> T:
        if self._run_lock is None:  # made here, on the loop the session lives on
            self._run_lock = asyncio.Lock()
        async with self._run_lock:
            return await work(sandbox)

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
            sandbox = await _on_loop(type(self).__name__, source.loop, source.acquire)
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
                    f"{type(self).__name__} was called synchronously with a SandboxPool that "
                    "was never started; start the pool on the event loop that will serve its "
                    "sessions."
                )
            sandbox = _on_loop_sync(type(self).__name__, source.loop, source.acquire)
            return _Session(sandbox, source.loop, owned=True)
        if isinstance(source, Sandbox) and source.is_running:
            raise ConfigurationError(_started_elsewhere(type(self).__name__))
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
            await _on_loop(type(self).__name__, session.loop, session.sandbox.close)

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
            _on_loop_sync(type(self).__name__, session.loop, session.sandbox.close)

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
