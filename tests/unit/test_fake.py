"""FakeSandbox's own behaviour: handlers, the session around them, python_handler's edges.

What it shares with every backend is in tests/conformance/.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from runpad.sandbox import Execution, FakeSandbox, Language, Limits, OutputChunk
from runpad.sandbox.fake import python_handler


async def test_a_handler_decides_the_cell_and_the_session_adds_the_rest() -> None:
    calls: list[tuple[str, Language]] = []

    def handler(code: str, language: Language) -> Execution:
        calls.append((code, language))
        return Execution(stdout="out\n", stderr="err\n", execution_count=99, duration_ms=-1)

    chunks: list[OutputChunk] = []
    async with FakeSandbox(handler) as sandbox:
        execution = await sandbox.run("ls", language="shell", on_output=chunks.append)
        assert calls == [("ls", "shell")]
        assert execution.stdout == "out\n"
        assert execution.stderr == "err\n"
        assert execution.execution_count == 1
        assert execution.duration_ms >= 0
        assert execution.language == "shell"
        assert chunks == [OutputChunk("stdout", "out\n"), OutputChunk("stderr", "err\n")]
        assert (await sandbox.run("ls")).execution_count == 2


async def test_files_a_handler_writes_into_the_work_dir_are_artifacts() -> None:
    def handler(code: str, language: Language) -> Execution:
        if code == "write":
            sandbox.workdir.write("report.md", b"# done, and longer")
        return Execution()

    sandbox = FakeSandbox(handler)
    async with sandbox:
        await sandbox.upload(b"# done", "report.md")
        assert (await sandbox.run("read")).artifacts == []
        execution = await sandbox.run("write")
        assert [artifact.name for artifact in execution.artifacts] == ["report.md"]
        workdir = sandbox.workdir.root
        assert workdir.is_dir()
    assert not workdir.exists()  # close removes the work dir


async def test_a_coroutine_handler_is_cancelled_at_the_timeout() -> None:
    async def handler(code: str, language: Language) -> Execution:
        if code == "slow":
            await asyncio.sleep(30)
        return Execution(stdout=f"{code}\n")

    async with FakeSandbox(handler, limits=Limits(timeout=0.2)) as sandbox:
        slow = await sandbox.run("slow")
        assert slow.timed_out
        assert slow.error is not None
        assert slow.error.name == "TimeoutError"
        assert slow.duration_ms < 5000
        assert (await sandbox.run("fast")).stdout == "fast\n"


async def test_interrupt_cancels_a_running_coroutine_handler() -> None:
    started = asyncio.Event()

    async def handler(code: str, language: Language) -> Execution:
        started.set()
        await asyncio.sleep(30)
        return Execution()

    async with FakeSandbox(handler) as sandbox:
        cell = asyncio.create_task(sandbox.run("wait"))
        await started.wait()
        await sandbox.interrupt()
        execution = await cell
        assert execution.error is not None
        assert execution.error.name == "KeyboardInterrupt"
        assert not execution.timed_out


async def test_restart_resets_the_namespace_and_calls_the_hook() -> None:
    restarts: list[str] = []

    async def on_restart() -> None:
        restarts.append("restarted")

    async with FakeSandbox(on_restart=on_restart) as sandbox:
        await sandbox.run("x = 1")
        await sandbox.restart()
        assert restarts == ["restarted"]
        after = await sandbox.run("'x' in globals()")
        assert after.text == "False"
        assert after.execution_count == 1


async def test_a_handler_must_return_an_execution() -> None:
    def wrong(code: str, language: Language) -> str:
        return "not an execution"

    async with FakeSandbox(wrong) as sandbox:  # type: ignore[arg-type]  # the mistake under test
        with pytest.raises(TypeError, match="must return an Execution"):
            await sandbox.run("1")


async def test_python_handler_refuses_shell_cells_as_a_value() -> None:
    async with FakeSandbox() as sandbox:
        execution = await sandbox.run("echo hi", language="shell")
        assert execution.error is not None
        assert "Python only" in execution.error.value


def test_python_handler_runs_only_inside_a_fake_sandbox() -> None:
    with pytest.raises(RuntimeError, match="FakeSandbox"):
        python_handler("1 + 1", "python")


async def test_the_hosts_warning_filters_do_not_apply_to_cells() -> None:
    """pytest here turns warnings into errors; a cell's warnings must stay output."""
    async with FakeSandbox() as sandbox:
        execution = await sandbox.run(
            "import warnings\nwarnings.warn('careful', UserWarning)\nleft_open = open('f', 'w')"
        )
        assert execution.ok, execution.error
        assert "UserWarning: careful" in execution.stderr
        await sandbox.restart()  # drops the open file without a ResourceWarning error


async def test_the_cells_cwd_is_the_work_dir_only_while_it_runs() -> None:
    cwd = os.getcwd()
    async with FakeSandbox() as sandbox:
        execution = await sandbox.run("import os\nos.getcwd()")
        assert execution.text == repr(str(sandbox.workdir.root))
    assert os.getcwd() == cwd
