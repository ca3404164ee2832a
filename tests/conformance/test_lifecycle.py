"""A session's life: restart, a dying kernel, close."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from runpad.errors import SandboxClosed
from runpad.sandbox import Sandbox, open_sandbox

from .conftest import Backend


async def test_restart_clears_state_and_keeps_files(sandbox: Sandbox, backend: Backend) -> None:
    backend.require("restart")
    await sandbox.run("x = 1\nopen('kept.txt', 'w').write('kept')")
    await sandbox.upload(b"uploaded", "uploaded.txt")
    await sandbox.restart()
    gone = await sandbox.run("x")
    assert gone.error is not None
    assert gone.error.name == "NameError"
    assert (await sandbox.run("open('kept.txt').read()")).text == "'kept'"
    assert await sandbox.download("uploaded.txt") == b"uploaded"
    assert (await sandbox.run("y = 2\ny")).text == "2"


async def test_a_dying_kernel_is_an_error_value_and_the_session_answers(
    sandbox: Sandbox, backend: Backend
) -> None:
    backend.require("kernel-death")
    await sandbox.run("x = 1\nopen('kept.txt', 'w').write('kept')")
    died = await sandbox.run("import os\nprint('going', flush=True)\nos._exit(3)")
    assert died.restarted
    assert died.error is not None
    assert died.error.name == "KernelDied"
    assert "restarted" in died.error.value
    assert (await sandbox.run("6 * 7")).text == "42"
    gone = await sandbox.run("x")
    assert gone.error is not None
    assert gone.error.name == "NameError"
    assert await sandbox.download("kept.txt") == b"kept"


async def test_a_kernel_that_dies_between_cells_is_replaced(
    sandbox: Sandbox, backend: Backend
) -> None:
    backend.require("kernel-death")
    await sandbox.run("x = 1\nimport os, threading\nthreading.Timer(0.2, os._exit, [3]).start()")
    await asyncio.sleep(1.5)  # the kernel exits while no cell runs
    after = await asyncio.wait_for(sandbox.run("6 * 7"), 60)  # no hang: a fresh kernel answers
    assert after.text == "42"
    assert after.restarted
    assert "restarted" in after.stderr
    gone = await sandbox.run("x")
    assert gone.error is not None
    assert gone.error.name == "NameError"
    assert not gone.restarted


async def test_a_closed_session_refuses_every_call(sandbox: Sandbox) -> None:
    assert sandbox.is_running
    await sandbox.close()
    assert not sandbox.is_running
    await sandbox.close()  # idempotent
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "start": sandbox.start,
        "run": lambda: sandbox.run("1 + 1"),
        "upload": lambda: sandbox.upload(b"x", "x.txt"),
        "download": lambda: sandbox.download("x.txt"),
        "list_files": sandbox.list_files,
        "restart": sandbox.restart,
        "interrupt": sandbox.interrupt,
    }
    for call in calls.values():
        with pytest.raises(SandboxClosed, match="closed"):
            await call()
    with pytest.raises(SandboxClosed):
        async for _ in sandbox.stream("1 + 1"):
            pass


async def test_a_session_that_was_never_started_refuses_calls(backend: Backend) -> None:
    sandbox = open_sandbox(backend.name)
    assert sandbox.backend == backend.name
    assert not sandbox.is_running
    with pytest.raises(SandboxClosed, match="not started"):
        await sandbox.run("1 + 1")
    await sandbox.close()
    with pytest.raises(SandboxClosed, match="closed"):
        await sandbox.start()
