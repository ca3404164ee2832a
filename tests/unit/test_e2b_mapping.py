"""The e2b backend without the network: E2B's own result types, mapped onto runpad's.

The cell flow (streaming, the two timeouts, artifacts) runs against a stand-in for E2B's
AsyncSandbox that answers with the SDK's own types.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import e2b
import httpx
import pytest
from e2b import EntryInfo, FileType
from e2b_code_interpreter import (
    Context,
    Execution,
    ExecutionError,
    Logs,
    OutputMessage,
    Result,
)

from runpad.errors import (
    SandboxClosed,
    SandboxError,
    SandboxFileError,
    SandboxTimeout,
    SandboxUnavailable,
)
from runpad.sandbox.e2b import (
    E2B_CHART_MIME_TYPE,
    E2B_DATA_MIME_TYPE,
    TABLE_MIME_TYPE,
    E2BSandbox,
    error_from_e2b,
    execution_from_e2b,
    rich_result_from_e2b,
    sandbox_error_from_e2b,
)
from runpad.sandbox.limits import Limits
from runpad.sandbox.results import OutputChunk

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()

# -- results --------------------------------------------------------------------------------


def test_each_result_format_becomes_its_mime_type() -> None:
    result = Result(
        text="<Figure>",
        html="<b>x</b>",
        markdown="**x**",
        svg="<svg/>",
        png=PNG,
        jpeg="anBlZw==",
        pdf="cGRm",
        latex="$x$",
        json={"a": 1},
        javascript="alert(1)",
        is_main_result=True,
    )
    rich = rich_result_from_e2b(result)
    assert rich.is_main_result
    assert rich.data == {
        "text/plain": "<Figure>",
        "text/html": "<b>x</b>",
        "text/markdown": "**x**",
        "image/svg+xml": "<svg/>",
        "image/png": PNG,
        "image/jpeg": "anBlZw==",
        "application/pdf": "cGRm",
        "text/latex": "$x$",
        "application/json": {"a": 1},
        "application/javascript": "alert(1)",
    }
    assert rich.png == base64.b64decode(PNG)


def test_a_display_without_text_keeps_only_what_it_has() -> None:
    rich = rich_result_from_e2b(Result(png=PNG))
    assert not rich.is_main_result
    assert rich.mime_types == ["image/png"]
    assert rich.text is None


def test_a_data_frame_becomes_table_data_like_the_local_kernel_sends() -> None:
    frame = {"city": ["Oslo", "Lima"], "people": [709_000, 10_000_000], "share": [0.5, None]}
    rich = rich_result_from_e2b(Result(text="  city ...", data=frame, is_main_result=True))
    assert rich.table == {
        "schema": {
            "fields": [
                {"name": "city", "type": "string"},
                {"name": "people", "type": "integer"},
                {"name": "share", "type": "number"},
            ]
        },
        "data": [
            {"city": "Oslo", "people": 709_000, "share": 0.5},
            {"city": "Lima", "people": 10_000_000, "share": None},
        ],
        "total_rows": 2,
    }
    assert rich.text == "  city ..."


def test_data_that_is_not_columns_is_kept_under_e2bs_own_type() -> None:
    rich = rich_result_from_e2b(Result(data={"a": [1, 2], "b": [3]}))
    assert TABLE_MIME_TYPE not in rich.data
    assert rich.data[E2B_DATA_MIME_TYPE] == {"a": [1, 2], "b": [3]}


def test_charts_and_extra_formats_are_kept() -> None:
    chart = {"type": "unknown", "title": "sales", "elements": []}
    rich = rich_result_from_e2b(Result(png=PNG, chart=chart, extra={"text/x-custom": "c"}))
    assert rich.data[E2B_CHART_MIME_TYPE] == chart
    assert rich.data["text/x-custom"] == "c"


# -- executions -----------------------------------------------------------------------------


def test_an_execution_maps_streams_results_and_count() -> None:
    execution = Execution(
        results=[Result(png=PNG), Result(text="42", is_main_result=True)],
        logs=Logs(stdout=["hello ", "world\n"], stderr=["careful\n"]),
        execution_count=7,
    )
    mapped, spills = execution_from_e2b(execution, duration_ms=12.5)
    assert mapped.ok
    assert mapped.stdout == "hello world\n"
    assert mapped.stderr == "careful\n"
    assert mapped.text == "42"
    assert len(mapped.images) == 1
    assert mapped.execution_count == 7
    assert mapped.duration_ms == 12.5
    assert not mapped.timed_out
    assert spills == {}


def test_an_error_is_a_value_without_terminal_colours() -> None:
    error = ExecutionError(
        "ZeroDivisionError",
        "division by zero",
        "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero",
    )
    assert error_from_e2b(error).traceback == "ZeroDivisionError: division by zero"
    mapped, _ = execution_from_e2b(Execution(error=error))
    assert mapped.error is not None
    assert mapped.error.name == "ZeroDivisionError"
    assert mapped.error.value == "division by zero"
    assert "\x1b" not in mapped.error.traceback


def test_large_output_keeps_head_and_tail_and_spills_the_whole_stream() -> None:
    lines = [f"line {n}\n" for n in range(1000)]
    mapped, spills = execution_from_e2b(
        Execution(logs=Logs(stdout=lines)),
        limits=Limits(output_bytes=200),
        spill_prefix=".runpad/cell-3",
    )
    assert mapped.stdout_truncated
    assert mapped.stdout_spill == ".runpad/cell-3-stdout.txt"
    assert mapped.stdout.startswith("line 0\n")
    assert mapped.stdout.endswith("line 999\n")
    assert ".runpad/cell-3-stdout.txt" in mapped.stdout
    assert spills == {".runpad/cell-3-stdout.txt": "".join(lines).encode()}
    assert not mapped.stderr_truncated


@pytest.mark.parametrize(
    ("finished", "restarted", "how"),
    [(True, False, "it was interrupted"), (False, True, "the kernel was restarted")],
)
def test_a_timed_out_execution_says_what_happened(
    finished: bool, restarted: bool, how: str
) -> None:
    mapped, _ = execution_from_e2b(
        Execution(logs=Logs(stdout=["started\n"])),
        timed_out=True,
        finished=finished,
        restarted=restarted,
        timeout=5,
    )
    assert mapped.timed_out
    assert mapped.restarted is restarted
    assert mapped.stdout == "started\n"
    assert mapped.error is not None
    assert mapped.error.name == "TimeoutError"
    assert "5 s" in mapped.error.value
    assert how in mapped.error.value


# -- errors ---------------------------------------------------------------------------------


def _convert(exc: BaseException) -> SandboxError:
    return sandbox_error_from_e2b(exc, doing="create the sandbox", request_timeout=30, lifetime=600)


@pytest.mark.parametrize(
    ("raised", "expected", "says"),
    [
        (e2b.AuthenticationException("401: Unauthorized"), SandboxUnavailable, "E2B_API_KEY"),
        (e2b.RateLimitException("429: Rate limit exceeded"), SandboxUnavailable, "rate limit"),
        (
            e2b.SandboxException("403: concurrent sandboxes", status_code=403),
            SandboxUnavailable,
            "quota",
        ),
        (e2b.ServiceBusyException("503"), SandboxUnavailable, "Retry"),
        (e2b.TimeoutException("Request timed out"), SandboxTimeout, "request_timeout=30"),
        (httpx.ConnectTimeout("connect"), SandboxTimeout, "request_timeout=30"),
        (e2b.SandboxNotRunningException("was not found"), SandboxClosed, "lifetime"),
        (
            e2b.TimeoutException("The sandbox was killed while the request was in progress"),
            SandboxClosed,
            "lifetime",
        ),
        (e2b.FileNotFoundException("no such file"), SandboxFileError, "No such file"),
        (e2b.NotEnoughSpaceException("disk full"), SandboxFileError, "disk is full"),
        (httpx.ConnectError("name resolution"), SandboxUnavailable, "network"),
        (e2b.SandboxException("500: boom"), SandboxError, "failed to create the sandbox"),
    ],
)
def test_e2b_errors_become_sandbox_errors_that_say_what_to_change(
    raised: BaseException, expected: type[SandboxError], says: str
) -> None:
    converted = _convert(raised)
    assert type(converted) is expected
    assert says in str(converted)


async def test_without_a_key_the_backend_refuses_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    with pytest.raises(SandboxUnavailable, match="E2B_API_KEY"):
        await E2BSandbox().start()


# -- the cell flow, against a stand-in for E2B's AsyncSandbox ------------------------------------


class _Files:
    def __init__(self) -> None:
        self.contents: dict[str, bytes] = {}
        self.mtimes: dict[str, float] = {}

    def put(self, path: str, data: bytes) -> None:
        self.contents[path] = data
        self.mtimes[path] = self.mtimes.get(path, 0.0) + 1

    async def write(self, path: str, data: bytes, **_: Any) -> None:
        self.put(path, data)

    async def read(self, path: str, format: str, **_: Any) -> bytearray:
        if path not in self.contents:
            raise e2b.FileNotFoundException(f"{path} not found")
        return bytearray(self.contents[path])

    async def list(self, path: str, depth: int, **_: Any) -> list[EntryInfo]:
        return [
            EntryInfo(
                name=name.rsplit("/", 1)[1],
                type=FileType.FILE,
                path=name,
                size=len(data),
                mode=0o644,
                permissions="rw-r--r--",
                owner="user",
                group="user",
                modified_time=datetime.fromtimestamp(self.mtimes[name], UTC),
            )
            for name, data in self.contents.items()
            if name.startswith(path + "/")
        ]


Cell = Callable[..., Any]


class _Remote:
    """Answers `run_code` by running a scripted coroutine with E2B's callbacks."""

    def __init__(self) -> None:
        self.files = _Files()
        self.restarts = 0
        self.cells: list[str] = []
        self.script: Cell | None = None
        self.probe_hangs = False
        self.lifetimes: list[int] = []
        self.contexts: list[Context] = []
        self.ran_in: list[str] = []  # the language of each cell's context

    async def create_code_context(self, cwd: str, language: str, **_: Any) -> Context:
        self.contexts.append(Context(f"context-{len(self.contexts)}", language, cwd))
        return self.contexts[-1]

    async def run_code(self, code: str, **options: Any) -> Execution:
        self.cells.append(code)
        self.ran_in.append(options["context"].language)
        if code in ("None", "0"):  # the probe after a dropped cell
            if self.probe_hangs:
                raise e2b.TimeoutException("Execution timed out")
            return Execution()
        assert self.script is not None
        return await self.script(**options)

    async def restart_code_context(self, context: object) -> None:
        self.restarts += 1

    async def set_timeout(self, timeout: int) -> None:
        self.lifetimes.append(timeout)


@pytest.fixture
def remote() -> _Remote:
    return _Remote()


@pytest.fixture
def sandbox(remote: _Remote) -> E2BSandbox:
    session = E2BSandbox(Limits(timeout=5, interrupt_grace=0.2), request_timeout=7)
    session._remote = remote  # as if start() had created it
    session._contexts = {"python": Context("context-python", "python", session.work_dir)}
    session._started = True
    return session


async def test_a_cell_streams_output_and_reports_artifacts(
    sandbox: E2BSandbox, remote: _Remote
) -> None:
    remote.files.put("/home/user/work/old.txt", b"unchanged")

    async def script(**options: Any) -> Execution:
        assert options["timeout"] == 5 + 7  # the cell's own limit, plus the request's
        assert options["request_timeout"] == 7
        await options["on_stdout"](OutputMessage("hi\n", 1))
        await options["on_stderr"](OutputMessage("careful\n", 2))
        options["on_result"](Result(text="2", is_main_result=True))
        remote.files.put("/home/user/work/out/result.csv", b"a,b\n")
        return Execution(execution_count=1)

    remote.script = script
    chunks: list[OutputChunk] = []
    execution = await sandbox.run("print('hi')", on_output=chunks.append)
    assert chunks == [OutputChunk("stdout", "hi\n"), OutputChunk("stderr", "careful\n")]
    assert execution.stdout == "hi\n"
    assert execution.text == "2"
    assert execution.execution_count == 1
    assert [(a.name, a.sha256, a.mime_type) for a in execution.artifacts] == [
        ("out/result.csv", hashlib.sha256(b"a,b\n").hexdigest(), "text/csv")
    ]


async def test_a_shell_cell_runs_through_the_kernel(sandbox: E2BSandbox, remote: _Remote) -> None:
    async def script(**options: Any) -> Execution:
        return Execution()

    remote.script = script
    await sandbox.run("ls -la", language="shell")
    assert remote.cells == ["%%bash\nls -la"]


async def test_javascript_and_typescript_cells_run_in_e2bs_js_and_ts_contexts(
    sandbox: E2BSandbox, remote: _Remote
) -> None:
    async def script(**options: Any) -> Execution:
        return Execution()

    remote.script = script
    await sandbox.run("const x: number = 1", language="typescript")
    await sandbox.run("[1, 2].map((n) => n * 2)", language="javascript")
    await sandbox.run("x = 1")
    await sandbox.run("console.log(x)", language="typescript")
    # One context each, made at its first cell, in the work dir; code as written.
    assert [(c.language, c.cwd) for c in remote.contexts] == [
        ("ts", "/home/user/work"),
        ("js", "/home/user/work"),
    ]
    assert remote.ran_in == ["ts", "js", "python", "ts"]
    assert remote.cells[:2] == ["const x: number = 1", "[1, 2].map((n) => n * 2)"]


async def test_a_javascript_kernel_busy_after_a_timeout_is_restarted_alone(
    sandbox: E2BSandbox, remote: _Remote
) -> None:
    async def script(**options: Any) -> Execution:
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    remote.script = script
    remote.probe_hangs = True
    execution = await sandbox.run("while (true) {}", language="javascript", timeout=0.2)
    assert execution.timed_out
    assert execution.restarted
    assert remote.cells[-1] == "0"  # the probe, in JavaScript
    assert remote.ran_in[-1] == "js"
    assert remote.restarts == 1


async def test_the_cell_timeout_is_runpads_own_and_the_kernel_keeps_its_state(
    sandbox: E2BSandbox, remote: _Remote
) -> None:
    async def script(**options: Any) -> Execution:
        await options["on_stdout"](OutputMessage("working\n", 1))
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    remote.script = script
    execution = await sandbox.run("slow()", timeout=0.2)
    assert execution.timed_out
    assert not execution.restarted  # the probe got an answer
    assert execution.stdout == "working\n"
    assert execution.error is not None
    assert "interrupted" in execution.error.value
    assert remote.restarts == 0


async def test_a_kernel_that_stays_busy_after_a_timeout_is_restarted(
    sandbox: E2BSandbox, remote: _Remote
) -> None:
    async def script(**options: Any) -> Execution:
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    remote.script = script
    remote.probe_hangs = True
    execution = await sandbox.run("stuck()", timeout=0.2)
    assert execution.timed_out
    assert execution.restarted
    assert remote.restarts == 1


async def test_interrupt_drops_the_cell_as_a_keyboard_interrupt(
    sandbox: E2BSandbox, remote: _Remote
) -> None:
    async def script(**options: Any) -> Execution:
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    remote.script = script
    running = asyncio.create_task(sandbox.run("wait()"))
    await asyncio.sleep(0.05)
    await sandbox.interrupt()
    execution = await running
    assert execution.error is not None
    assert execution.error.name == "KeyboardInterrupt"
    assert not execution.timed_out


async def test_a_failed_request_raises_a_sandbox_error(
    sandbox: E2BSandbox, remote: _Remote
) -> None:
    async def script(**options: Any) -> Execution:
        raise e2b.SandboxNotRunningException("sandbox was not found")

    remote.script = script
    with pytest.raises(SandboxClosed, match="lifetime of 1800 s"):
        await sandbox.run("1")


async def test_files_stay_inside_the_work_dir(sandbox: E2BSandbox, remote: _Remote) -> None:
    info = await sandbox.upload(b"data", "in/data.bin")
    assert info.name == "in/data.bin"
    assert remote.files.contents["/home/user/work/in/data.bin"] == b"data"
    assert await sandbox.download("/home/user/work/in/data.bin") == b"data"
    assert [f.name for f in await sandbox.list_files()] == ["in/data.bin"]
    with pytest.raises(SandboxFileError, match="outside"):
        await sandbox.download("../.bashrc")
    with pytest.raises(SandboxFileError, match=r"No file 'missing\.txt'"):
        await sandbox.download("missing.txt")


async def test_cells_renew_the_sandbox_lifetime_once_per_half_of_it(
    sandbox: E2BSandbox, remote: _Remote
) -> None:
    async def script(**options: Any) -> Execution:
        return Execution()

    remote.script = script
    sandbox._renew_at = 0.0  # as if half the lifetime had passed since the start
    await sandbox.run("1")
    await sandbox.run("2")
    assert remote.lifetimes == [1800]
