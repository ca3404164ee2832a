"""`fake`: a sandbox whose cells are answered by a function: a test double, NOT isolated.

In the spirit of httpx's `MockTransport`: you give a handler, `handler(code, language)`, that
decides what each cell returns. Everything around the handler is real and shared with the
kernel backends: files live in a private temporary work dir behind `WorkDir` (uploads,
downloads, listings, path checks, artifact detection), and the session numbers cells,
times them, applies the output limit (head and tail, the rest spilled to an artifact),
streams output and honours close, restart and interrupt.

The default handler, `python_handler`, really runs Python, in this process: use it to test
code that drives a sandbox without starting a kernel. Never give it untrusted code.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import linecache
import shutil
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO, TypeAlias

from runpad.errors import SandboxClosed
from runpad.sandbox.base import Sandbox, emit
from runpad.sandbox.limits import Limits
from runpad.sandbox.output import StreamCapture
from runpad.sandbox.results import (
    Execution,
    ExecutionError,
    FileInfo,
    Language,
    OutputCallback,
    OutputChunk,
    RichResult,
    StreamName,
)
from runpad.sandbox.workdir import RUNPAD_DIR, WorkDir

__all__ = ["CellHandler", "FakeSandbox", "RestartHook", "python_handler"]

CellHandler: TypeAlias = Callable[[str, Language], Execution | Awaitable[Execution]]
"""`handler(code, language)`: what a cell produced; a plain or a coroutine function."""

RestartHook: TypeAlias = Callable[[], Awaitable[None] | None]
"""Called by `FakeSandbox.restart()`; a plain or a coroutine function."""

_PROCESS_STATE = threading.Lock()
"""The working directory, sys.stdout and sys.stderr belong to the whole process, so
`python_handler` runs one cell at a time across all sessions and threads."""


@dataclass
class _Session:
    """A FakeSandbox's interpreter state, which `python_handler` reaches through `_CURRENT`."""

    workdir: Path
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__main__"})
    sources: dict[str, str] = field(default_factory=dict)  # cell file name -> code
    execution_count: int = 0
    chunks: list[OutputChunk] = field(default_factory=list)  # the running cell's output

    def discard(self) -> None:
        """Drop the cells' variables as the cells would: files they left open close quietly."""
        with _PROCESS_STATE, _default_warning_filters():
            self.namespace.clear()


_CURRENT: ContextVar[_Session | None] = ContextVar("runpad_fake_session", default=None)


class FakeSandbox(Sandbox):
    """A test double of a sandbox: a function answers each cell, the files are real.

    It is not isolated in any way: `python_handler`, the default, runs the code in this
    very process. Use it in tests, never for code you do not trust.

    The handler decides a cell's stdout, stderr, results and error; the sandbox sets the
    rest: `execution_count`, `duration_ms`, `artifacts` (files the cell created or changed
    in the work dir), `language`, and the output limit, which cuts stdout and stderr to
    head and tail and spills each whole stream to an artifact. Output reaches `on_output`
    and `stream()` when the cell ends, in the order it was written.

    Args:
        handler: `handler(code, language) -> Execution`, a plain or a coroutine function.
        limits: `output_bytes` and `spill_bytes` apply; `timeout` applies to coroutine
            handlers, which are cancelled when it passes (and by `interrupt()`).
        on_restart: called by `restart()`, after the session's Python namespace and its
            execution count were reset.

    Example:
        ```python
        def handler(code: str, language: Language) -> Execution:
            return Execution(stdout=f"ran {len(code)} characters\\n")

        async with FakeSandbox(handler) as sandbox:
            execution = await sandbox.run("print('hi')")
            assert execution.stdout == "ran 11 characters\\n"

        async with FakeSandbox() as sandbox:  # python_handler: real Python, in-process
            await sandbox.run("x = 21")
            assert (await sandbox.run("x * 2")).text == "42"
        ```
    """

    backend = "fake"

    def __init__(
        self,
        handler: CellHandler | None = None,
        *,
        limits: Limits | None = None,
        on_restart: RestartHook | None = None,
    ) -> None:
        super().__init__(limits)
        self._handler = handler or python_handler
        self._on_restart = on_restart
        self._workdir: WorkDir | None = None
        self._session: _Session | None = None
        self._cell: asyncio.Future[Execution] | None = None

    @property
    def workdir(self) -> WorkDir:
        if self._workdir is None:
            raise SandboxClosed("The sandbox has no work dir until it is started.")
        return self._workdir

    async def _start(self) -> None:
        self._workdir = WorkDir(Path(tempfile.mkdtemp(prefix="runpad-fake-")))
        self._session = _Session(self._workdir.root)

    async def _close(self) -> None:
        self._cancel_cell()
        if self._session is not None:
            self._session.discard()
        if self._workdir is not None:
            await asyncio.to_thread(shutil.rmtree, self._workdir.root, True)

    async def _restart(self) -> None:
        self._cancel_cell()
        if self._session is not None:
            self._session.discard()
        self._session = _Session(self.workdir.root)
        if self._on_restart is not None:
            maybe_awaitable = self._on_restart()
            if maybe_awaitable is not None:
                await maybe_awaitable

    async def _interrupt(self) -> None:
        self._cancel_cell()

    def _cancel_cell(self) -> None:
        if self._cell is not None:
            self._cell.cancel()

    async def _run(
        self, code: str, *, language: Language, timeout: float, on_output: OutputCallback | None
    ) -> Execution:
        workdir = self.workdir
        session = self._session
        assert session is not None  # set by start(), which run() checked
        session.execution_count += 1
        count = session.execution_count
        session.chunks = []
        before, _ = await asyncio.to_thread(workdir.snapshot)
        started = time.monotonic()
        token = _CURRENT.set(session)
        try:
            execution = await self._call_handler(code, language, timeout)
        finally:
            _CURRENT.reset(token)
        duration_ms = (time.monotonic() - started) * 1000
        chunks = session.chunks or [
            OutputChunk(stream="stdout", text=execution.stdout),
            OutputChunk(stream="stderr", text=execution.stderr),
        ]
        for chunk in chunks:
            if chunk.text:
                await emit(on_output, chunk)
        stdout = self._capture(workdir, f"cell-{count}-stdout.txt", execution.stdout)
        stderr = self._capture(workdir, f"cell-{count}-stderr.txt", execution.stderr)
        changes = await asyncio.to_thread(workdir.changed_since, before, self.limits)
        return replace(
            execution,
            stdout=stdout.value(),
            stderr=stderr.value(),
            stdout_truncated=stdout.truncated,
            stderr_truncated=stderr.truncated,
            stdout_spill=stdout.spill_name,
            stderr_spill=stderr.spill_name,
            duration_ms=duration_ms,
            execution_count=count,
            artifacts=changes.artifacts,
            artifacts_omitted=changes.omitted,
            artifacts_complete=changes.complete,
            language=language,
        )

    async def _call_handler(self, code: str, language: Language, timeout: float) -> Execution:
        outcome = self._handler(code, language)
        if inspect.isawaitable(outcome):
            outcome = await self._await_cell(outcome, timeout)
        if not isinstance(outcome, Execution):
            raise TypeError(
                f"A FakeSandbox handler must return an Execution, not {type(outcome).__name__}."
            )
        return outcome

    async def _await_cell(self, outcome: Awaitable[Execution], timeout: float) -> Execution:
        cell = asyncio.ensure_future(outcome)
        self._cell = cell
        try:
            done, _ = await asyncio.wait({cell}, timeout=timeout)
        finally:
            self._cell = None
            if not cell.done():  # the timeout passed, or our caller was cancelled
                cell.cancel()
        if not done:
            await asyncio.wait({cell})
            return _stopped(
                "TimeoutError",
                f"The cell ran longer than its {timeout:g} s limit and was cancelled. "
                "Make it faster, or run it with a larger timeout.",
                timed_out=True,
            )
        if cell.cancelled():  # by interrupt() or restart()
            return _stopped("KeyboardInterrupt", "The cell was interrupted.")
        return cell.result()

    def _capture(self, workdir: WorkDir, spill_file: str, text: str) -> StreamCapture:
        name = f"{RUNPAD_DIR}/{spill_file}"
        capture = StreamCapture(
            self.limits.output_bytes,
            spill_name=name,
            open_spill=lambda: workdir.open_for_write(name),
            spill_limit=self.limits.spill_bytes,
        )
        capture.add(text)
        capture.close()
        return capture

    async def _upload(self, data: bytes, dest: str) -> FileInfo:
        return await asyncio.to_thread(self.workdir.write, dest, data)

    async def _download(self, path: str) -> bytes:
        return await asyncio.to_thread(self.workdir.read, path)

    async def _list_files(self, path: str) -> list[FileInfo]:
        return await asyncio.to_thread(self.workdir.list_files, path)


def _stopped(name: str, value: str, *, timed_out: bool = False) -> Execution:
    return Execution(error=ExecutionError(name=name, value=value), timed_out=timed_out)


def python_handler(code: str, language: Language) -> Execution:
    """Run a cell as Python in this process, in the calling FakeSandbox's namespace.

    Like IPython: variables persist between cells, the value of a last expression is the
    main result (its `repr` as text/plain), and an exception is an error value with its
    traceback. stdout and stderr are captured, and the working directory is the sandbox's
    work dir while the cell runs. Shell cells are not supported (an error value says so).
    Not isolated at all: the code can do whatever this process can.
    """
    session = _CURRENT.get()
    if session is None:
        raise RuntimeError("python_handler answers the cells of a FakeSandbox, nothing else.")
    if language != "python":
        return Execution(
            error=ExecutionError(
                name="ValueError",
                value=f"python_handler runs Python only, not {language!r} cells; give "
                "FakeSandbox a handler of your own for them.",
            ),
        )
    filename = f"<cell {session.execution_count}>"
    session.sources[filename] = code
    stdout = _CellStream("stdout", session.chunks)
    stderr = _CellStream("stderr", session.chunks)
    results: list[RichResult] = []
    error: ExecutionError | None = None
    with (
        _PROCESS_STATE,
        _default_warning_filters(),
        contextlib.chdir(session.workdir),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        try:
            value = _execute(code, filename, session.namespace)
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # values, as in IPython
            error = ExecutionError(
                name=type(exc).__name__,
                value=str(exc),
                traceback=_format_traceback(exc, session.sources),
            )
        else:
            if value is not None:
                session.namespace["_"] = value
                results.append(RichResult(data={"text/plain": repr(value)}, is_main_result=True))
    return Execution(
        stdout="".join(c.text for c in session.chunks if c.stream == "stdout"),
        stderr="".join(c.text for c in session.chunks if c.stream == "stderr"),
        results=results,
        error=error,
    )


@contextlib.contextmanager
def _default_warning_filters() -> Iterator[None]:
    """Python's own warning filters for the cell, not the host's: a test suite that turns
    warnings into errors must not turn them into errors of the code under test."""
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for category in (
            DeprecationWarning,
            PendingDeprecationWarning,
            ImportWarning,
            ResourceWarning,
        ):
            warnings.simplefilter("ignore", category)
        warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
        warnings.showwarning = _show_warning  # not into the host's recorder (pytest's)
        yield


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    text = warnings.formatwarning(message, category, filename, lineno, line)
    (file or sys.stderr).write(text)


def _execute(code: str, filename: str, namespace: dict[str, Any]) -> object:
    """Run the statements; evaluate and return a trailing expression, as IPython shows it."""
    module = ast.parse(code, filename)
    last = module.body[-1] if module.body else None
    if not isinstance(last, ast.Expr):
        exec(compile(module, filename, "exec"), namespace)
        return None
    module.body.pop()
    exec(compile(module, filename, "exec"), namespace)
    return eval(compile(ast.Expression(last.value), filename, "eval"), namespace)


def _format_traceback(exc: BaseException, sources: dict[str, str]) -> str:
    """The traceback from the first frame of a cell on, with the cells' source lines."""
    if isinstance(exc, SyntaxError):
        return "".join(traceback.format_exception_only(exc))
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename not in sources:
        tb = tb.tb_next
    with _cell_sources_in_linecache(sources):
        return "".join(traceback.format_exception(type(exc), exc, tb))


@contextlib.contextmanager
def _cell_sources_in_linecache(sources: dict[str, str]) -> Iterator[None]:
    # linecache is process-wide: the cells' lines are there only while we format.
    added = [name for name in sources if name not in linecache.cache]
    for name in added:
        code = sources[name]
        linecache.cache[name] = (len(code), None, code.splitlines(keepends=True), name)
    try:
        yield
    finally:
        for name in added:
            linecache.cache.pop(name, None)


class _CellStream(io.TextIOBase):
    """sys.stdout or sys.stderr of a cell: records writes in order, across both streams."""

    def __init__(self, name: StreamName, chunks: list[OutputChunk]) -> None:
        super().__init__()
        self._name: StreamName = name
        self._chunks = chunks

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            merged = self._chunks.pop().text if self._continues() else ""
            self._chunks.append(OutputChunk(stream=self._name, text=merged + text))
        return len(text)

    def _continues(self) -> bool:
        return bool(self._chunks) and self._chunks[-1].stream == self._name
