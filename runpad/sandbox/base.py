"""The Sandbox protocol: one async session interface that every backend implements.

A session is a stateful interpreter (variables persist between cells) with a private work
dir. Backends differ in how they isolate it; the conformance suite in
`tests/conformance/` holds every backend to the same behaviour.
"""

from __future__ import annotations

import abc
import asyncio
import inspect
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self, cast, get_args

from runpad.errors import SandboxClosed
from runpad.sandbox.budget import fit_execution
from runpad.sandbox.limits import Limits
from runpad.sandbox.results import (
    Execution,
    ExecutionError,
    FileInfo,
    Language,
    OutputCallback,
    OutputChunk,
)

__all__ = ["Sandbox", "emit", "unsupported_language"]


async def emit(on_output: OutputCallback | None, chunk: OutputChunk) -> None:
    """Deliver one chunk to a sync or async output callback."""
    if on_output is None:
        return
    maybe_awaitable = on_output(chunk)
    if inspect.isawaitable(maybe_awaitable):
        await maybe_awaitable


def unsupported_language(language: str, backend: str, languages: tuple[Language, ...]) -> Execution:
    """The error value of a cell whose language the backend does not run."""
    return Execution(
        error=ExecutionError(
            name="UnsupportedLanguage",
            value=f"The {backend!r} sandbox backend does not run {language!r} cells; it runs: "
            f"{', '.join(languages)}. Write the cell in one of these, or choose a backend "
            "that runs it.",
        ),
        # A name outside the Language type (a typo from a front end) is recorded as python.
        language=cast(Language, language) if language in _KNOWN_LANGUAGES else "python",
    )


_KNOWN_LANGUAGES = frozenset(get_args(Language))


class Sandbox(abc.ABC):
    """A stateful, isolated code session.

    Use it as an async context manager, which starts and always closes it:

    Example:
        ```python
        from runpad.sandbox import open_sandbox

        async with open_sandbox("local") as sandbox:
            await sandbox.run("x = 21")
            execution = await sandbox.run("x * 2")
            assert execution.text == "42"
        ```
    """

    backend: ClassVar[str]
    """The name `open_sandbox` knows this backend by."""

    languages: ClassVar[tuple[Language, ...]] = ("python", "shell")
    """The cell languages this backend runs; a cell in another one is an error value."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._started = False
        self._closed = False
        # One cell at a time: a kernel's replies carry no cell of their own that two
        # interleaved cells could be told apart by, so a second caller waits its turn.
        self._cell_lock = asyncio.Lock()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the session; idempotent. Raises SandboxUnavailable or SandboxStartError."""
        if self._closed:
            raise SandboxClosed("This sandbox session was closed; open a new one.")
        if not self._started:
            await self._start()
            self._started = True

    async def close(self) -> None:
        """Stop the kernel and release everything the session holds; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._started:
            await self._close()

    @property
    def is_running(self) -> bool:
        return self._started and not self._closed

    @property
    def is_alive(self) -> bool:
        """Running, and its interpreter is still there: a local check, no round trip.

        False once the kernel died (killed, out of memory) while nothing ran, which is how
        a pool tells a warm session it must throw away.
        """
        return self.is_running and self._is_alive()

    def _is_alive(self) -> bool:
        """Backends that can cheaply tell whether their interpreter died override this."""
        return True

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Shield so that a cancelled caller still releases the kernel and its processes.
        await asyncio.shield(self.close())

    def _check_running(self) -> None:
        if self._closed:
            raise SandboxClosed("This sandbox session was closed; open a new one.")
        if not self._started:
            raise SandboxClosed("This sandbox session was not started; call start() first.")

    # -- execution ----------------------------------------------------------------------------

    async def run(
        self,
        code: str,
        *,
        language: Language = "python",
        timeout: float | None = None,
        on_output: OutputCallback | None = None,
    ) -> Execution:
        """Run one cell and return what it produced.

        Args:
            code: the cell's source.
            language: "python"; "shell" for a bash script run inside the sandbox;
                "javascript" or "typescript" for a Deno kernel of the same session, where
                the backend lists them in `languages`.
            timeout: wall-clock seconds for this cell; defaults to `limits.timeout`.
            on_output: called with each stdout/stderr chunk as it arrives.

        Cells run one at a time: a call made while another cell runs waits for it.
        """
        self._check_running()
        if language not in self.languages:
            return unsupported_language(language, self.backend, self.languages)
        async with self._cell_lock:
            self._check_running()  # closed while this call waited
            execution = await self._run(
                code,
                language=language,
                timeout=timeout or self.limits.timeout,
                on_output=on_output,
            )
        # Whatever the backend returned, nothing past the output limits leaves here.
        return fit_execution(execution, self.limits)

    async def stream(
        self, code: str, *, language: Language = "python", timeout: float | None = None
    ) -> AsyncIterator[OutputChunk | Execution]:
        """Run one cell, yielding output chunks as they arrive and the Execution last."""
        queue: asyncio.Queue[OutputChunk | Execution | BaseException] = asyncio.Queue()

        async def produce() -> None:
            try:
                await queue.put(
                    await self.run(code, language=language, timeout=timeout, on_output=queue.put)
                )
            except BaseException as exc:
                await queue.put(exc)

        task = asyncio.create_task(produce())
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Execution):
                    return
        finally:
            if not task.done():
                task.cancel()

    async def interrupt(self) -> None:
        """Interrupt the cell that is running now, as Ctrl-C would."""
        self._check_running()
        await self._interrupt()

    async def restart(self) -> None:
        """Restart the kernel: variables are cleared, files in the work dir stay."""
        self._check_running()
        await self._restart()

    # -- files ----------------------------------------------------------------------------------

    async def upload(self, source: bytes | str | Path, dest: str) -> FileInfo:
        """Write a file into the work dir. `source` is bytes, or a local file path."""
        self._check_running()
        data = (
            source
            if isinstance(source, bytes)
            else await asyncio.to_thread(Path(source).read_bytes)
        )
        return await self._upload(data, dest)

    async def download(self, path: str) -> bytes:
        """Read a file from the work dir (a path relative to it)."""
        self._check_running()
        return await self._download(path)

    async def list_files(self, path: str = ".") -> list[FileInfo]:
        """List a directory of the work dir, recursively, sorted by name."""
        self._check_running()
        return await self._list_files(path)

    # -- what each backend implements ----------------------------------------------------------

    @abc.abstractmethod
    async def _start(self) -> None: ...

    @abc.abstractmethod
    async def _close(self) -> None: ...

    @abc.abstractmethod
    async def _run(
        self, code: str, *, language: Language, timeout: float, on_output: OutputCallback | None
    ) -> Execution: ...

    @abc.abstractmethod
    async def _interrupt(self) -> None: ...

    @abc.abstractmethod
    async def _restart(self) -> None: ...

    @abc.abstractmethod
    async def _upload(self, data: bytes, dest: str) -> FileInfo: ...

    @abc.abstractmethod
    async def _download(self, path: str) -> bytes: ...

    @abc.abstractmethod
    async def _list_files(self, path: str) -> list[FileInfo]: ...
