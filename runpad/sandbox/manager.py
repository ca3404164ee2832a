"""One sandbox session per graph thread, kept for the life of the process that runs it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from runpad.sandbox.base import Sandbox
from runpad.sandbox.factory import open_sandbox
from runpad.sandbox.limits import Limits

__all__ = ["SandboxManager"]


class SandboxManager:
    """Hands each thread its sandbox session, starting it on first use.

    A session lives in this process only. After a crash, a restart or on another machine
    the manager has no session for the thread, `session()` says it is fresh, and the
    executor rebuilds the kernel state from the checkpointed cells.

    With `idle_seconds`, a long-lived process (a server) closes the sessions of threads that
    ran nothing for that long. The check runs whenever a session is asked for, so an idle
    server holds its sessions until the next request; a closed thread's next cell gets a
    fresh session, rebuilt like after a restart.

    Example:
        ```python
        manager = SandboxManager("local")
        sandbox, fresh = await manager.session("thread-1")
        ...
        await manager.aclose()
        ```
    """

    def __init__(
        self,
        backend: str = "local",
        *,
        limits: Limits | None = None,
        factory: Callable[[], Sandbox] | None = None,
        idle_seconds: float | None = None,
    ) -> None:
        self.backend = backend
        self.idle_seconds = idle_seconds
        self._factory = factory or (lambda: open_sandbox(backend, limits=limits))
        self._sessions: dict[str, Sandbox] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._last_used: dict[str, float] = {}
        # Sessions started ahead of their first use (`prestart`), not yet handed out.
        self._starting: dict[str, asyncio.Task[Sandbox]] = {}

    def prestart(self, thread_id: str) -> None:
        """Start the thread's session in the background, for a caller that knows a cell
        will need it soon (a resumed run): the kernel starts in its own process while this
        one reads the checkpoint and runs the nodes before the executor. The first
        `session()` call still says the session is fresh, so the kernel is rebuilt as
        always; a prestart that fails is forgotten, and that call starts one itself.
        """
        if thread_id in self._starting or self.has_session(thread_id):
            return
        if self.idle_seconds is not None:  # never claimed (the run failed first): closed idle
            self._last_used[thread_id] = time.monotonic()
        self._starting[thread_id] = asyncio.create_task(self._started_session())

    async def _started_session(self) -> Sandbox:
        sandbox = self._factory()
        try:
            await sandbox.start()
        except BaseException:
            await sandbox.close()
            raise
        return sandbox

    async def _claim_prestarted(self, thread_id: str) -> Sandbox | None:
        """The session `prestart` began for the thread, once started; None if none or it
        failed (the caller then starts one, and reports its error)."""
        task = self._starting.pop(thread_id, None)
        if task is None:
            return None
        try:
            return await task
        except Exception:
            return None

    async def session(self, thread_id: str) -> tuple[Sandbox, bool]:
        """The thread's running session, and whether it was started just now."""
        if self.idle_seconds is not None:
            await self._close_idle(except_thread=thread_id)
            self._last_used[thread_id] = time.monotonic()
        lock = self._locks.setdefault(thread_id, asyncio.Lock())
        async with lock:
            sandbox = self._sessions.get(thread_id)
            if sandbox is not None and sandbox.is_running:
                return sandbox, False
            sandbox = await self._claim_prestarted(thread_id)
            if sandbox is None:
                sandbox = self._factory()
                await sandbox.start()
            self._sessions[thread_id] = sandbox
            return sandbox, True

    def has_session(self, thread_id: str) -> bool:
        sandbox = self._sessions.get(thread_id)
        return sandbox is not None and sandbox.is_running

    async def _close_idle(self, *, except_thread: str) -> None:
        assert self.idle_seconds is not None
        now = time.monotonic()
        idle = [
            thread
            for thread, used in self._last_used.items()
            if thread != except_thread and now - used > self.idle_seconds
        ]
        for thread in idle:
            await self.discard(thread)

    async def discard(self, thread_id: str) -> None:
        """Close the thread's session (its next cell gets a fresh, rebuilt one)."""
        self._last_used.pop(thread_id, None)
        prestarted = await self._claim_prestarted(thread_id)
        if prestarted is not None:
            await prestarted.close()
        sandbox = self._sessions.pop(thread_id, None)
        if sandbox is not None:
            await sandbox.close()

    async def aclose(self) -> None:
        """Close every session."""
        prestarted = [await self._claim_prestarted(thread) for thread in list(self._starting)]
        sessions, self._sessions = list(self._sessions.values()), {}
        sessions += [sandbox for sandbox in prestarted if sandbox is not None]
        await asyncio.gather(*(sandbox.close() for sandbox in sessions), return_exceptions=True)
