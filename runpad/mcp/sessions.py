"""One sandbox session per MCP session: started lazily, bounded in number, closed when idle.

An MCP session is named by a key: the HTTP transport's `Mcp-Session-Id`, or one fixed key
for the stdio transport, whose process serves a single client. The sandbox sessions
themselves come from runpad's `SandboxManager` (keyed the same way), so they start, limit
and close exactly as a run's sessions do. A running analysis holds a slot of the same
bound, because it runs its own sandbox session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from runpad.errors import RunpadError
from runpad.sandbox.base import Sandbox
from runpad.sandbox.manager import SandboxManager

__all__ = ["McpSession", "SessionLimitError", "SessionRegistry"]

logger = logging.getLogger(__name__)

_MAX_TABLES = 50
"""Data frame and SQL result CSVs kept per session; older ones are dropped first."""
_MAX_TABLE_BYTES = 20_000_000
"""Bytes of CSV kept per session."""
_FORGET_AFTER = 24 * 3600.0
"""Seconds after which the record of a session without a sandbox is dropped."""


class SessionLimitError(RunpadError):
    """The server already runs as many sandbox sessions as it may."""


@dataclass
class McpSession:
    """What the server keeps for one MCP session (its sandbox lives in the manager)."""

    key: str
    last_used: float = field(default_factory=time.monotonic)
    busy: int = 0
    tables: OrderedDict[str, str] = field(default_factory=OrderedDict)
    table_count: int = 0
    runs: list[str] = field(default_factory=list)
    """Thread ids of the analyses this session started or resumed (its resources)."""
    expired: bool = False
    """The sandbox was closed for idleness; the next call says its variables are gone."""

    def add_table(self, csv_text: str) -> str:
        """Keep a CSV; returns its name (`table-N.csv`), stable for this session."""
        self.table_count += 1
        name = f"table-{self.table_count}.csv"
        self.tables[name] = csv_text
        while len(self.tables) > _MAX_TABLES or (
            len(self.tables) > 1 and sum(map(len, self.tables.values())) > _MAX_TABLE_BYTES
        ):
            self.tables.popitem(last=False)
        return name

    def add_run(self, thread_id: str) -> None:
        if thread_id not in self.runs:
            self.runs.append(thread_id)


class SessionRegistry:
    """The MCP sessions of one server and their sandbox sessions.

    Args:
        manager: makes, holds and closes the sandbox sessions, one per key.
        max_sessions: sandbox sessions alive at once (analyses included).
        idle_seconds: a session not used for this long has its sandbox closed.
        files_dir: a folder copied into each new sandbox session's work dir.

    Call `start()` on the event loop that serves the clients (it starts the idle reaper)
    and `aclose()` at the end.
    """

    def __init__(
        self,
        manager: SandboxManager,
        *,
        max_sessions: int,
        idle_seconds: float,
        files_dir: Path | None = None,
    ) -> None:
        self.manager = manager
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self.files_dir = files_dir
        self._sessions: dict[str, McpSession] = {}
        self._starting: set[str] = set()
        self._analyses = 0
        self._admission = asyncio.Lock()
        self._reaper: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start closing idle sessions in the background."""
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap_forever(), name="runpad-mcp-reaper")

    async def aclose(self) -> None:
        """Close every sandbox session and stop the reaper."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        self._sessions.clear()
        await self.manager.aclose()

    # -- sessions -----------------------------------------------------------------------------

    @property
    def live(self) -> int:
        """Sandbox sessions alive or starting, plus running analyses."""
        sandboxes = sum(1 for key in self._sessions if self.manager.has_session(key))
        return sandboxes + len(self._starting) + self._analyses

    def session(self, key: str) -> McpSession:
        """The record of an MCP session (made on first use; no sandbox is started)."""
        record = self._sessions.get(key)
        if record is None:
            record = self._sessions[key] = McpSession(key)
        return record

    @contextlib.asynccontextmanager
    async def use(self, key: str) -> AsyncIterator[McpSession]:
        """Mark the session busy while a call works in it (the reaper leaves it alone)."""
        record = self.session(key)
        record.busy += 1
        try:
            yield record
        finally:
            record.busy -= 1
            record.last_used = time.monotonic()

    async def sandbox(self, key: str) -> tuple[Sandbox, str | None]:
        """The session's running sandbox, started now if it has none.

        Returns the sandbox and, when it replaces one the idle expiry closed, a note that
        says so for the caller (else None).

        Raises:
            SessionLimitError: starting one would pass `max_sessions`.
            SandboxError: the sandbox could not start.
        """
        record = self.session(key)
        claimed = False  # this call admitted the start (a concurrent one waits for it)
        async with self._admission:
            if not self.manager.has_session(key) and key not in self._starting:
                self._check_room()
                self._starting.add(key)
                claimed = True
        try:
            sandbox, fresh = await self.manager.session(key)
            if fresh:
                await self._copy_files(sandbox)
        except BaseException:
            if claimed:
                await self.manager.discard(key)
            raise
        finally:
            if claimed:
                self._starting.discard(key)
        note = None
        if fresh and record.expired:
            note = (
                f"This session was idle for more than {self.idle_seconds:g} s and was closed; "
                "this is a new one: variables from earlier calls are gone, the work dir "
                "starts empty again."
            )
            record.expired = False
        return sandbox, note

    def has_sandbox(self, key: str) -> bool:
        return self.manager.has_session(key)

    async def running_sandbox(self, key: str) -> Sandbox | None:
        """The session's sandbox if it runs; never starts one."""
        if not self.manager.has_session(key):
            return None
        sandbox, _ = await self.manager.session(key)
        return sandbox

    async def reset(self, key: str) -> bool:
        """Close the session's sandbox and forget its tables; True if one was running."""
        record = self.session(key)
        running = self.manager.has_session(key)
        await self.manager.discard(key)
        record.tables.clear()
        record.expired = False
        return running

    async def end(self, key: str) -> None:
        """The MCP session ended (the client disconnected): close and forget it."""
        self._sessions.pop(key, None)
        await self.manager.discard(key)

    @contextlib.asynccontextmanager
    async def analysis_slot(self) -> AsyncIterator[None]:
        """Hold one of the `max_sessions` slots while an analysis runs its own sandbox."""
        async with self._admission:
            self._check_room()
            self._analyses += 1
        try:
            yield
        finally:
            self._analyses -= 1

    def _check_room(self) -> None:
        if self.live >= self.max_sessions:
            raise SessionLimitError(
                f"runpad is already running {self.max_sessions} sandbox sessions, its limit "
                "(--max-sessions; running analyses count too). Close another client's "
                f"session (reset_session, or disconnect), wait for idle sessions to expire "
                f"({self.idle_seconds:g} s), or start the server with a higher --max-sessions."
            )

    async def _copy_files(self, sandbox: Sandbox) -> None:
        """Copy the `--files` folder into a new session's work dir."""
        folder = self.files_dir
        if folder is None:
            return
        paths = await asyncio.to_thread(
            lambda: sorted(path for path in folder.rglob("*") if path.is_file())
        )
        for path in paths:
            await sandbox.upload(path, path.relative_to(folder).as_posix())

    # -- idle expiry ------------------------------------------------------------------------

    async def reap(self) -> list[str]:
        """Close the sandboxes of sessions idle past `idle_seconds`; returns their keys."""
        now = time.monotonic()
        closed = []
        for key, record in list(self._sessions.items()):
            if record.busy or now - record.last_used < self.idle_seconds:
                continue
            if self.manager.has_session(key):
                logger.info("closing MCP session %s: idle for %.0f s", key, now - record.last_used)
                await self.manager.discard(key)
                record.expired = True
                record.tables.clear()
                closed.append(key)
            elif now - record.last_used > max(2 * self.idle_seconds, _FORGET_AFTER):
                # A client long gone (an HTTP session that ended without DELETE): forget
                # its record too. Kept until then so that a client that comes back is told
                # its session expired.
                del self._sessions[key]
        return closed

    async def _reap_forever(self) -> None:
        interval = min(30.0, max(0.5, self.idle_seconds / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reap()
            except Exception:  # a failing close must not end expiry for everyone
                logger.exception("closing idle MCP sessions failed")
