"""A pool of warm sandbox sessions, so that a new session is ready at once.

Starting a session costs a kernel start (about 0.35 s for `local`). The pool starts sessions
ahead of time and hands each one out once: a session never comes back to the pool, so every
caller gets a fresh interpreter and no variable, file or import leaks from one user to the
next. Refilling happens in the background after each `acquire()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Self

from runpad.errors import ConfigurationError, SandboxClosed
from runpad.sandbox.base import Sandbox

__all__ = ["SandboxPool"]

logger = logging.getLogger(__name__)


class SandboxPool:
    """Keeps `size` started, never used sessions of any backend ready to hand out.

    Args:
        factory: makes a new, not yet started session, e.g. `lambda: open_sandbox("local")`.
        size: how many warm sessions to keep. 0 keeps none: `acquire()` then starts one.

    Sessions and the pool live on the event loop that first used the pool; use them there.
    A session that failed to start in the background is logged and dropped, and the next
    `acquire()` that finds nothing warm starts one itself and raises its SandboxError.

    Example:
        ```python
        from runpad.sandbox import SandboxPool, open_sandbox

        async with SandboxPool(lambda: open_sandbox("local"), size=2) as pool:
            async with await pool.acquire() as sandbox:  # yours now; closed on exit
                print((await sandbox.run("1 + 1")).text)
        ```
    """

    def __init__(self, factory: Callable[[], Sandbox], size: int = 2) -> None:
        if size < 0:
            raise ValueError(f"SandboxPool size must be 0 or more, got {size!r}")
        self.size = size
        self._factory = factory
        self._warm: deque[Sandbox] = deque()
        self._starting: deque[asyncio.Task[Sandbox]] = deque()
        self._closing: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def warm(self) -> int:
        """Sessions ready to hand out now."""
        return len(self._warm)

    @property
    def starting(self) -> int:
        """Sessions being started in the background."""
        return len(self._starting)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the pool and its sessions live on; None until first used."""
        return self._loop

    @property
    def is_closed(self) -> bool:
        return self._closed

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin filling the pool in the background; returns at once."""
        self._check_usable()
        self._refill()

    async def fill(self) -> None:
        """Start sessions until `size` are warm, and wait for them.

        Raises:
            SandboxError: a session failed to start (the one raised first).
        """
        self._check_usable()
        self._refill()
        # Shielded: a cancelled caller leaves the starts running; they still end up warm.
        outcomes = await asyncio.gather(
            *(asyncio.shield(task) for task in list(self._starting)), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def acquire(self) -> Sandbox:
        """A started, never used session, now owned by the caller, who must close it.

        Takes a warm session when there is one; otherwise waits for the session that is
        furthest along in starting, or starts one. Then refills in the background.

        Raises:
            SandboxClosed: the pool was closed.
            SandboxError: no session was warm and starting one failed.
        """
        self._check_usable()
        while self._warm:
            sandbox = self._warm.popleft()
            if sandbox.is_alive:
                self._refill()
                return sandbox
            logger.info("discarding a warm %s session whose kernel died", sandbox.backend)
            self._close_later(sandbox)
        if not self._starting:
            self._spawn()
        task = self._starting.popleft()  # claimed: its result comes to us, not to the pool
        try:
            sandbox = await asyncio.shield(task)
        except asyncio.CancelledError:
            self._starting.appendleft(task)  # give it back; it becomes warm when it is up
            if task.done():
                self._on_started(task)
            raise
        self._refill()
        return sandbox

    async def close(self) -> None:
        """Close every warm session and the ones still starting; idempotent.

        Sessions already handed out belong to their callers and stay open.
        """
        if self._closed:
            return
        self._closed = True
        # Starts are waited for rather than cancelled (each is bounded by
        # Limits.start_timeout), so that a half-started kernel never outlives the pool.
        await asyncio.gather(*list(self._starting), return_exceptions=True)
        warm, self._warm = list(self._warm), deque()
        for sandbox in warm:
            self._close_later(sandbox)
        await asyncio.gather(*list(self._closing), return_exceptions=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.shield(self.close())

    # -- internals --------------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._closed:
            raise SandboxClosed("This sandbox pool was closed; create a new one.")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise ConfigurationError(
                "A SandboxPool and its sessions live on the event loop that first used it; "
                "use the pool from that loop, or create one pool per event loop."
            )

    def _refill(self) -> None:
        alive = [sandbox for sandbox in self._warm if sandbox.is_alive]
        for sandbox in self._warm:
            if not sandbox.is_alive:
                self._close_later(sandbox)
        self._warm = deque(alive)
        for _ in range(self.size - len(self._warm) - len(self._starting)):
            self._spawn()

    def _spawn(self) -> None:
        task = asyncio.create_task(self._start_one(), name="runpad-pool-start")
        task.add_done_callback(self._on_started)
        self._starting.append(task)

    async def _start_one(self) -> Sandbox:
        sandbox = self._factory()
        try:
            await sandbox.start()
        except BaseException:
            await asyncio.shield(sandbox.close())
            raise
        return sandbox

    def _on_started(self, task: asyncio.Task[Sandbox]) -> None:
        try:
            self._starting.remove(task)
        except ValueError:
            return  # an acquire() claimed it and gets the result or the error itself
        if task.cancelled():
            return
        if (exc := task.exception()) is not None:
            logger.warning("a pooled sandbox session failed to start: %s", exc)
            return
        if self._closed:
            self._close_later(task.result())
        else:
            self._warm.append(task.result())

    def _close_later(self, sandbox: Sandbox) -> None:
        task = asyncio.create_task(sandbox.close(), name="runpad-pool-close")
        self._closing.add(task)
        task.add_done_callback(self._on_closed)

    def _on_closed(self, task: asyncio.Task[None]) -> None:
        self._closing.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.warning("closing a pooled sandbox session failed: %s", exc)
