"""A synchronous facade over any Sandbox, for scripts and sync code.

Sandbox sessions are asyncio objects bound to the event loop that started them (their
subprocess and sockets belong to it). `SyncSandbox` gives a session a private loop in a
background thread and runs every call there, blocking the calling thread until it is done.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from runpad.bridge import EventLoopThread
from runpad.errors import SandboxClosed
from runpad.sandbox.base import Sandbox
from runpad.sandbox.results import Execution, FileInfo, Language, OutputCallback

__all__ = ["SyncSandbox"]

T = TypeVar("T")

_CLOSED = "This sandbox session was closed; open a new one."


class SyncSandbox:
    """Blocking versions of a Sandbox's methods, with the same arguments and results.

    The wrapped session runs on a private event loop in a background thread, so
    `on_output` callbacks are called from that thread. Ctrl-C (KeyboardInterrupt) during
    `run()` interrupts the cell in the kernel before it propagates.

    Args:
        sandbox: a session that is not started yet, of any backend; `start()` (or `with`)
            starts it on the private loop, and `close()` closes it and stops the loop.

    Example:
        ```python
        from runpad.sandbox import SyncSandbox, open_sandbox

        with SyncSandbox(open_sandbox("local")) as sandbox:
            print(sandbox.run("1 + 1").text)  # 2
        ```
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._portal = EventLoopThread(name=f"runpad-{sandbox.backend}-sandbox")

    @property
    def sandbox(self) -> Sandbox:
        """The wrapped async session; await its methods only on `loop`."""
        return self._sandbox

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The private event loop the session lives on."""
        return self._portal.loop

    @property
    def is_running(self) -> bool:
        return self._sandbox.is_running

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule a coroutine that uses `sandbox` on its loop, from any thread."""
        if not self._portal.is_running:
            coro.close()
            raise SandboxClosed(_CLOSED)
        return self._portal.submit(coro)

    def start(self) -> None:
        """Start the session; idempotent."""
        self._call(self._sandbox.start())

    def run(
        self,
        code: str,
        *,
        language: Language = "python",
        timeout: float | None = None,
        on_output: OutputCallback | None = None,
    ) -> Execution:
        """Run one cell and return what it produced; see `Sandbox.run`."""
        future = self.submit(
            self._sandbox.run(code, language=language, timeout=timeout, on_output=on_output)
        )
        try:
            return future.result()
        except KeyboardInterrupt:
            # Stop the cell too, else the kernel stays busy with it after Ctrl-C.
            with contextlib.suppress(Exception):
                self._call(self._sandbox.interrupt())
                future.result(timeout=self._sandbox.limits.interrupt_grace)
            raise

    def upload(self, source: bytes | str | Path, dest: str) -> FileInfo:
        """Write a file into the work dir; see `Sandbox.upload`."""
        return self._call(self._sandbox.upload(source, dest))

    def download(self, path: str) -> bytes:
        """Read a file from the work dir; see `Sandbox.download`."""
        return self._call(self._sandbox.download(path))

    def list_files(self, path: str = ".") -> list[FileInfo]:
        """List a directory of the work dir; see `Sandbox.list_files`."""
        return self._call(self._sandbox.list_files(path))

    def interrupt(self) -> None:
        """Interrupt the running cell; call it from another thread than the one in `run()`."""
        self._call(self._sandbox.interrupt())

    def restart(self) -> None:
        """Restart the kernel: variables are cleared, files stay; see `Sandbox.restart`."""
        self._call(self._sandbox.restart())

    def close(self) -> None:
        """Close the session and stop the private loop; idempotent."""
        if not self._portal.is_running:
            return
        try:
            self._portal.call(self._sandbox.close())
        finally:
            self._portal.stop()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if not self._portal.is_running:
            coro.close()
            raise SandboxClosed(_CLOSED)
        return self._portal.call(coro)
