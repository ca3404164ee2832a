"""The `e2b` backend: a session in E2B's hosted code interpreter (`e2b-code-interpreter`).

The remote side is also an IPython kernel, so cells, rich results and errors map onto
runpad's `Execution` one to one; `execution_from_e2b` does that mapping and is tested
against E2B's own result types. Two timeouts stay apart, as in E2B's SDK: a cell's wall
time (`Limits.timeout`, or `run(timeout=...)`) and each API request's
(`request_timeout`). A third, `lifetime`, is how long E2B keeps the sandbox at all.

What differs from the local backends: the service needs an API key (`E2B_API_KEY`) and
network; memory, CPU and process limits are those of the E2B template, not `Limits`;
artifacts are found by listing the work dir after each cell and comparing it with the
listing the previous cell left (the first cell, and one after an upload, list it before
they run too), and hashed on download (files past `artifact_hash_bytes` are reported
without a hash).

JavaScript and TypeScript cells run in E2B's own kernels for its `js` and `ts` languages
(`E2B_LANGUAGES`), one code context each, created at the first such cell in the same work
dir: E2B's JavaScript kernel is Node's (ijavascript) and its TypeScript kernel Deno's, so
unlike the local backends the two share no variables, and neither has runpad's Deno
permissions or offline npm cache: what they may do is the E2B template's to say.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import io
import logging
import mimetypes
import os
import posixpath
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from runpad.errors import (
    MissingDependencyError,
    SandboxClosed,
    SandboxError,
    SandboxFileError,
    SandboxTimeout,
    SandboxUnavailable,
)

try:
    import e2b
    import httpx
    from e2b_code_interpreter import AsyncSandbox
    from e2b_code_interpreter import Execution as E2BExecution
    from e2b_code_interpreter import ExecutionError as E2BExecutionError
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingDependencyError(
        "The E2B code interpreter SDK (e2b-code-interpreter)", "pip install 'runpad[e2b]'"
    ) from exc

from runpad.sandbox.base import Sandbox, emit
from runpad.sandbox.budget import ResultBudget
from runpad.sandbox.kernel.driver import KernelOutcome, outcome_to_execution, to_kernel_code
from runpad.sandbox.limits import Limits, MiB
from runpad.sandbox.output import StreamCapture
from runpad.sandbox.results import (
    Artifact,
    Execution,
    ExecutionError,
    FileInfo,
    JSONValue,
    Language,
    OutputCallback,
    OutputChunk,
    RichResult,
)
from runpad.sandbox.workdir import RUNPAD_DIR

__all__ = [
    "E2B_LANGUAGES",
    "E2BSandbox",
    "error_from_e2b",
    "execution_from_e2b",
    "rich_result_from_e2b",
    "sandbox_error_from_e2b",
]

logger = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_KEY_HINT = (
    "Set E2B_API_KEY to a key from https://e2b.dev/dashboard?tab=keys, or pass "
    "E2BSandbox(api_key=...)."
)
_LIST_DEPTH = 64
_MAX_HASHED_ARTIFACTS = 100

# E2B's Result attributes and the MIME types they carry.
_RESULT_MIME_TYPES = {
    "text": "text/plain",
    "html": "text/html",
    "markdown": "text/markdown",
    "svg": "image/svg+xml",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "pdf": "application/pdf",
    "latex": "text/latex",
    "json": "application/json",
    "javascript": "application/javascript",
}
E2B_LANGUAGES: dict[Language, str] = {"javascript": "js", "typescript": "ts"}
"""runpad's cell languages that run in an E2B code context of their own, by E2B's name for
them; Python and shell cells (`%%bash`) share the session's Python context."""
_SETTLE_CELL = {"python": "None", "js": "0", "ts": "0"}
"""A cell that does nothing, by E2B language: run to see whether a kernel answers."""

TABLE_MIME_TYPE = "application/vnd.dataresource+json"
E2B_DATA_MIME_TYPE = "application/vnd.e2b.data+json"
E2B_CHART_MIME_TYPE = "application/vnd.e2b.chart+json"


# -- mapping E2B's results onto runpad's ------------------------------------------------------


def rich_result_from_e2b(result: Any) -> RichResult:
    """One `e2b_code_interpreter.Result` as a MIME bundle.

    A data frame (E2B's `data`, columns of values) becomes Frictionless table data, as the
    local kernel sends it; a chart E2B extracted from a figure is kept under its own type.
    """
    data: dict[str, JSONValue] = {}
    for attribute, mime_type in _RESULT_MIME_TYPES.items():
        value = getattr(result, attribute, None)
        if value is not None:
            data[mime_type] = value
    frame = getattr(result, "data", None)
    if frame is not None:
        table = _table_from_columns(frame)
        data[TABLE_MIME_TYPE if table is not None else E2B_DATA_MIME_TYPE] = table or frame
    chart = getattr(result, "chart", None)
    if chart is not None:
        data[E2B_CHART_MIME_TYPE] = chart.to_dict()
    for key, value in (getattr(result, "extra", None) or {}).items():
        data.setdefault(str(key), value)
    return RichResult(data=data, is_main_result=bool(result.is_main_result))


def _table_from_columns(columns: object) -> dict[str, JSONValue] | None:
    """`{"a": [1, 2], "b": ["x", "y"]}` as table data; None when it is not columns."""
    if not isinstance(columns, dict) or not columns:
        return None
    values = list(columns.values())
    if not all(isinstance(column, list) for column in values):
        return None
    length = len(values[0])
    if any(len(column) != length for column in values):
        return None
    names = [str(name) for name in columns]
    return {
        "schema": {
            "fields": [
                {"name": name, "type": _column_type(column)}
                for name, column in zip(names, values, strict=True)
            ]
        },
        "data": [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)],
        "total_rows": length,
    }


def _column_type(column: list[JSONValue]) -> str:
    kinds = {type(value) for value in column if value is not None}
    if kinds == {bool}:
        return "boolean"
    if kinds == {int}:
        return "integer"
    if kinds and kinds <= {int, float}:
        return "number"
    if kinds == {str}:
        return "string"
    return "any"


def error_from_e2b(error: Any) -> ExecutionError:
    """An `e2b_code_interpreter.ExecutionError` as the model should read it (no colours)."""
    return ExecutionError(
        name=str(error.name), value=str(error.value), traceback=_ANSI.sub("", error.traceback or "")
    )


class _MemorySpill(io.BytesIO):
    """A spill file kept in memory until the backend writes it into the sandbox."""

    contents = b""

    def close(self) -> None:
        if not self.closed:
            self.contents = self.getvalue()
        super().close()


def execution_from_e2b(
    execution: Any,
    *,
    limits: Limits | None = None,
    language: Language = "python",
    duration_ms: float = 0.0,
    timed_out: bool = False,
    finished: bool = True,
    restarted: bool = False,
    timeout: float = 0.0,
    spill_prefix: str | None = None,
) -> tuple[Execution, dict[str, bytes]]:
    """Map an `e2b_code_interpreter.Execution` onto runpad's, with the same output caps.

    Args:
        execution: what E2B returned, or collected from its callbacks until a timeout.
        limits: output caps (`output_bytes`, `spill_bytes`).
        timed_out, finished, restarted, timeout: how the cell ended, as for local kernels.
        spill_prefix: spill files are named `{spill_prefix}-stdout.txt` (and -stderr), and
            `{spill_prefix}-result-N.ext` for the payloads of results over their caps; None
            keeps head and tail only (and a preview of such results).

    Returns:
        The Execution, and the spill files to write into the work dir (name -> bytes).
    """
    limits = limits or Limits()
    spills: dict[str, _MemorySpill] = {}

    def capture(stream: str) -> StreamCapture:
        if spill_prefix is None:
            return StreamCapture(limits.output_bytes)
        name = f"{spill_prefix}-{stream}.txt"
        return StreamCapture(
            limits.output_bytes,
            spill_name=name,
            open_spill=lambda: spills.setdefault(name, _MemorySpill()),
            spill_limit=limits.spill_bytes,
        )

    def write_spill(name: str, data: bytes) -> bool:
        spill = spills.setdefault(name, _MemorySpill())
        spill.write(data)
        spill.close()
        return True

    outcome = KernelOutcome(
        stdout=capture("stdout"),
        stderr=capture("stderr"),
        # Results over their caps keep a preview; their payloads spill as the kernels' do.
        budget=ResultBudget(
            limits,
            spill_prefix=f"{spill_prefix}-result",
            write_spill=write_spill if spill_prefix is not None else None,
        ),
    )
    for text in execution.logs.stdout:
        outcome.stdout.add(text)
    for text in execution.logs.stderr:
        outcome.stderr.add(text)
    outcome.stdout.close()
    outcome.stderr.close()
    for result in execution.results:
        outcome.add_result(rich_result_from_e2b(result))
    outcome.error = error_from_e2b(execution.error) if execution.error is not None else None
    outcome.execution_count = execution.execution_count
    outcome.finished = finished
    mapped = outcome_to_execution(
        outcome,
        language=language,
        duration_ms=duration_ms,
        timed_out=timed_out,
        restarted=restarted,
        timeout=timeout,
    )
    return mapped, {name: spill.contents for name, spill in spills.items()}


# -- E2B's errors as runpad's -----------------------------------------------------------------


def sandbox_error_from_e2b(
    exc: BaseException, *, doing: str, request_timeout: float, lifetime: int
) -> SandboxError:
    """The SandboxError for an E2B SDK (or transport) error, saying what to change."""
    if isinstance(exc, e2b.AuthenticationException):
        return SandboxUnavailable(
            f"E2B refused the API key while trying to {doing}: {exc}. {_KEY_HINT}"
        )
    if isinstance(exc, e2b.RateLimitException) or (
        isinstance(exc, e2b.SandboxException) and exc.status_code in (402, 403, 429)
    ):
        return SandboxUnavailable(
            f"E2B's rate limit or quota stopped runpad from trying to {doing}: {exc}. Wait and "
            "retry, run fewer sessions at once (a smaller pool), or raise your E2B plan's limits."
        )
    if isinstance(exc, e2b.ServiceBusyException):
        return SandboxUnavailable(
            f"E2B is busy and could not {doing}: {exc}. Retry in a few seconds."
        )
    gone = isinstance(exc, e2b.SandboxNotRunningException | e2b.SandboxNotFoundException)
    if gone or (isinstance(exc, e2b.TimeoutException) and "sandbox was killed" in str(exc)):
        return SandboxClosed(
            f"The E2B sandbox is gone (killed, or past its lifetime of {lifetime} s) while "
            f"trying to {doing}: {exc}. Start a new session; raise E2BSandbox(lifetime=...) "
            "for longer sessions."
        )
    if isinstance(exc, e2b.FileNotFoundException):
        return SandboxFileError(f"No such file in the E2B sandbox ({doing}): {exc}")
    if isinstance(exc, e2b.NotEnoughSpaceException):
        return SandboxFileError(
            f"The E2B sandbox's disk is full ({doing}): {exc}. Remove files, or use a template "
            "with more disk."
        )
    if isinstance(exc, e2b.TimeoutException | httpx.TimeoutException):
        return SandboxTimeout(
            f"An E2B request took longer than request_timeout={request_timeout:g} s while "
            f"trying to {doing}: {exc}. Raise E2BSandbox(request_timeout=...) or check the "
            "network."
        )
    if isinstance(exc, httpx.TransportError):
        return SandboxUnavailable(
            f"Could not reach E2B to {doing}: {exc}. Check this machine's network and proxy "
            "settings (and E2B_DOMAIN, if you set it)."
        )
    return SandboxError(f"E2B failed to {doing}: {exc}")


_E2B_ERRORS = (
    e2b.SandboxException,
    e2b.AuthenticationException,
    e2b.ServiceBusyException,
    httpx.HTTPError,
)


# -- the backend ------------------------------------------------------------------------------


class E2BSandbox(Sandbox):
    """A session in an E2B cloud sandbox, through the same protocol as the local backends.

    Args:
        limits: `timeout`, `interrupt_grace`, `output_bytes` and `spill_bytes` apply; memory,
            CPU and processes are the E2B template's.
        api_key: the E2B API key (default: the `E2B_API_KEY` environment variable).
        template: the E2B template (default: E2B's code interpreter).
        request_timeout: seconds each E2B API request may take (not the cell's time).
        lifetime: seconds E2B keeps the sandbox alive after its last cell (E2B's sandbox
            timeout, renewed as cells run).
        work_dir: the directory cells start in, whose files are the session's files.
        allow_internet_access: let code in the sandbox reach the internet (off, as locally).
        artifact_hash_bytes: changed files up to this size are downloaded to hash them.

    Example:
        ```python
        async with E2BSandbox(request_timeout=20) as sandbox:
            await sandbox.run("x = 21")
            print((await sandbox.run("x * 2")).text)  # 42
        ```
    """

    backend = "e2b"
    languages: ClassVar[tuple[Language, ...]] = ("python", "shell", *E2B_LANGUAGES)

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        api_key: str | None = None,
        template: str | None = None,
        request_timeout: float = 30.0,
        lifetime: int = 1800,
        work_dir: str = "/home/user/work",
        allow_internet_access: bool = False,
        artifact_hash_bytes: int = 64 * MiB,
    ) -> None:
        super().__init__(limits)
        self.template = template
        self.request_timeout = request_timeout
        self.lifetime = lifetime
        self.work_dir = posixpath.normpath(work_dir)
        self.allow_internet_access = allow_internet_access
        self.artifact_hash_bytes = artifact_hash_bytes
        self.session_id = secrets.token_hex(6)
        self._api_key = api_key
        self._remote: Any = None
        self._contexts: dict[str, Any] = {}  # E2B language -> code context
        self._cell: asyncio.Task[Any] | None = None
        self._renew_at = 0.0  # time.monotonic() after which a cell renews the lifetime
        self._interrupted = False
        self._cells = 0
        # The work dir's listing as the last cell left it: the next cell's artifacts are
        # what changed since, so a file written between cells (a background thread) counts
        # too. None after the host wrote (an upload, a spill): the next cell lists anew.
        self._files: dict[str, tuple[int, float]] | None = None

    @contextlib.contextmanager
    def _converted(self, doing: str) -> Iterator[None]:
        try:
            yield
        except _E2B_ERRORS as exc:
            raise sandbox_error_from_e2b(
                exc, doing=doing, request_timeout=self.request_timeout, lifetime=self.lifetime
            ) from exc

    # -- lifecycle --------------------------------------------------------------------------------

    async def _start(self) -> None:
        api_key = self._api_key or os.environ.get("E2B_API_KEY")
        if not api_key:
            raise SandboxUnavailable(f"The e2b backend needs an E2B API key. {_KEY_HINT}")
        with self._converted("create the sandbox"):
            self._remote = await AsyncSandbox.create(
                template=self.template,
                timeout=self.lifetime,
                metadata={"runpad.session": self.session_id},
                allow_internet_access=self.allow_internet_access,
                api_key=api_key,
                request_timeout=self.request_timeout,
            )
        try:
            with self._converted("prepare the work dir"):
                await self._remote.files.make_dir(self.work_dir)
            await self._context("python")
        except BaseException:
            await self._close()
            raise
        self._renew_at = time.monotonic() + self.lifetime / 2

    async def _context(self, language: str) -> Any:
        """The code context of an E2B language, created at its first cell."""
        if language not in self._contexts:
            with self._converted(f"create a {language} code context"):
                self._contexts[language] = await self._remote.create_code_context(
                    cwd=self.work_dir, language=language, request_timeout=self.request_timeout
                )
        return self._contexts[language]

    async def _keep_alive(self) -> None:
        """Push E2B's end of the sandbox `lifetime` ahead, once per half of it."""
        if time.monotonic() < self._renew_at:
            return
        with self._converted("renew the sandbox's lifetime"):
            await self._remote.set_timeout(self.lifetime)
        self._renew_at = time.monotonic() + self.lifetime / 2

    async def _close(self) -> None:
        remote, self._remote = self._remote, None
        if remote is not None:
            try:
                await remote.kill()
            except _E2B_ERRORS:  # it ends at its lifetime anyway
                logger.warning("could not kill E2B sandbox %s", remote.sandbox_id, exc_info=True)

    async def _restart(self) -> None:
        for language, context in self._contexts.items():
            with self._converted(f"restart the {language} kernel"):
                await self._remote.restart_code_context(context)

    async def _interrupt(self) -> None:
        # E2B interrupts a cell whose request is dropped; there is no interrupt call.
        if self._cell is not None and not self._cell.done():
            self._interrupted = True
            self._cell.cancel()

    # -- cells ------------------------------------------------------------------------------------

    async def _run(
        self, code: str, *, language: Language, timeout: float, on_output: OutputCallback | None
    ) -> Execution:
        e2b_language = E2B_LANGUAGES.get(language, "python")
        kernel_code = code if language in E2B_LANGUAGES else to_kernel_code(code, language)
        await self._keep_alive()
        context = await self._context(e2b_language)
        self._cells += 1
        before = self._files if self._files is not None else await self._snapshot()
        collected = E2BExecution()

        async def on_stdout(message: Any) -> None:
            collected.logs.stdout.append(message.line)
            await emit(on_output, OutputChunk(stream="stdout", text=message.line))

        async def on_stderr(message: Any) -> None:
            collected.logs.stderr.append(message.line)
            await emit(on_output, OutputChunk(stream="stderr", text=message.line))

        def on_error(error: Any) -> None:
            collected.error = error

        started = time.monotonic()
        self._interrupted = False
        cell = asyncio.create_task(
            self._remote.run_code(
                kernel_code,
                context=context,
                on_stdout=on_stdout,
                on_stderr=on_stderr,
                on_result=collected.results.append,
                on_error=on_error,
                # Our own timer below ends the cell; E2B's is only a backstop.
                timeout=timeout + self.request_timeout,
                request_timeout=self.request_timeout,
            )
        )
        self._cell = cell
        try:
            done, _ = await asyncio.wait({cell}, timeout=timeout)
        except asyncio.CancelledError:
            cell.cancel()
            raise
        finally:
            self._cell = None
        timed_out = cell not in done
        if timed_out:
            cell.cancel()
            await asyncio.gather(cell, return_exceptions=True)
        elif cell.cancelled():  # interrupt()
            if collected.error is None:
                collected.error = E2BExecutionError("KeyboardInterrupt", "", "KeyboardInterrupt")
        else:
            with self._converted("run a cell"):
                collected.execution_count = cell.result().execution_count
        finished = restarted = False
        if timed_out or self._interrupted:
            finished = await self._settle(context)
            restarted = not finished
        else:
            finished = True
        execution, spills = execution_from_e2b(
            collected,
            limits=self.limits,
            language=language,
            duration_ms=(time.monotonic() - started) * 1000,
            timed_out=timed_out,
            finished=finished,
            restarted=restarted,
            timeout=timeout,
            spill_prefix=f"{RUNPAD_DIR}/cell-{self._cells}",
        )
        artifacts = await self._changed_since(before)
        for name, contents in spills.items():
            await self._upload(contents, name)
            artifacts.append(_artifact(name, contents))
        return dataclasses.replace(execution, artifacts=artifacts)

    async def _settle(self, context: Any) -> bool:
        """After a dropped cell: True if its kernel answers within the grace, else restart it
        (that kernel only: the other languages' keep their state)."""
        grace = self.limits.interrupt_grace
        try:
            with self._converted("check that the kernel answers"):
                await self._remote.run_code(
                    _SETTLE_CELL.get(context.language, "0"),
                    context=context,
                    timeout=grace,
                    request_timeout=self.request_timeout,
                )
            return True
        except SandboxTimeout:
            with self._converted(f"restart the {context.language} kernel"):
                await self._remote.restart_code_context(context)
            return False

    # -- files ------------------------------------------------------------------------------------

    def _remote_path(self, name: str) -> str:
        if not name or "\x00" in name:
            raise SandboxFileError(f"Invalid path {name!r}: give a path relative to the work dir.")
        root = self.work_dir
        path = posixpath.normpath(name if name.startswith("/") else posixpath.join(root, name))
        if path != root and not path.startswith(root + "/"):
            raise SandboxFileError(
                f"Path {name!r} is outside the sandbox work dir ({root}); use a relative path "
                "such as 'data/input.csv'."
            )
        return path

    def _relative(self, path: str) -> str:
        return posixpath.relpath(path, self.work_dir)

    async def _upload(self, data: bytes, dest: str) -> FileInfo:
        path = self._remote_path(dest)
        self._files = None  # not the code's change: no artifact of the next cell
        with self._converted(f"write {dest!r}"):
            await self._remote.files.write(path, data, request_timeout=self.request_timeout)
        return FileInfo(name=self._relative(path), size=len(data), is_dir=False)

    async def _download(self, path: str) -> bytes:
        remote_path = self._remote_path(path)
        try:
            with self._converted(f"read {path!r}"):
                data = await self._remote.files.read(
                    remote_path, format="bytes", request_timeout=self.request_timeout
                )
        except SandboxFileError as exc:
            raise SandboxFileError(f"No file {path!r} in the sandbox work dir.") from exc
        return bytes(data)

    async def _list_files(self, path: str) -> list[FileInfo]:
        entries = await self._entries(self._remote_path(path))
        return sorted(
            (
                FileInfo(
                    name=self._relative(entry.path),
                    size=0 if entry.type == e2b.FileType.DIR else int(entry.size),
                    is_dir=entry.type == e2b.FileType.DIR,
                )
                for entry in entries
            ),
            key=lambda info: info.name,
        )

    async def _entries(self, remote_path: str) -> list[Any]:
        try:
            with self._converted("list the work dir"):
                return list(
                    await self._remote.files.list(
                        remote_path, depth=_LIST_DEPTH, request_timeout=self.request_timeout
                    )
                )
        except SandboxFileError as exc:
            raise SandboxFileError(
                f"No directory {self._relative(remote_path)!r} in the sandbox work dir."
            ) from exc

    async def _snapshot(self) -> dict[str, tuple[int, float]]:
        return {
            self._relative(entry.path): (int(entry.size), entry.modified_time.timestamp())
            for entry in await self._entries(self.work_dir)
            if entry.type == e2b.FileType.FILE
        }

    async def _changed_since(self, before: dict[str, tuple[int, float]]) -> list[Artifact]:
        artifacts = []
        self._files = after = await self._snapshot()
        changed = [(n, s) for n, s in sorted(after.items()) if before.get(n) != s]
        for index, (name, (size, _mtime)) in enumerate(changed):
            if size > self.artifact_hash_bytes or index >= _MAX_HASHED_ARTIFACTS:
                artifacts.append(_artifact(name, None, size))
                continue
            try:
                artifacts.append(_artifact(name, await self._download(name)))
            except SandboxFileError:  # removed meanwhile
                continue
        return artifacts


def _artifact(name: str, contents: bytes | None, size: int | None = None) -> Artifact:
    """An artifact; without contents (too large to fetch) its sha256 is empty."""
    mime_type, _ = mimetypes.guess_type(name)
    return Artifact(
        name=name,
        size=len(contents) if contents is not None else size or 0,
        mime_type=mime_type or "application/octet-stream",
        sha256=hashlib.sha256(contents).hexdigest() if contents is not None else "",
    )
