"""One sandbox session per graph thread, kept for the life of the process that runs it."""

from __future__ import annotations

import asyncio
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
    ) -> None:
        self.backend = backend
        self._factory = factory or (lambda: open_sandbox(backend, limits=limits))
        self._sessions: dict[str, Sandbox] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def session(self, thread_id: str) -> tuple[Sandbox, bool]:
        """The thread's running session, and whether it was started just now."""
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

    async def discard(self, thread_id: str) -> None:
        """Close the thread's session (its next cell gets a fresh, rebuilt one)."""
        sandbox = self._sessions.pop(thread_id, None)
        if sandbox is not None:
            await sandbox.close()

    async def aclose(self) -> None:
        """Close every session."""
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(sandbox.close() for sandbox in sessions), return_exceptions=True)
