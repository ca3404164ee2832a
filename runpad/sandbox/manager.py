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
        sandbox = self._sessions.pop(thread_id, None)
        if sandbox is not None:
            await sandbox.close()

    async def aclose(self) -> None:
        """Close every session."""
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(sandbox.close() for sandbox in sessions), return_exceptions=True)
