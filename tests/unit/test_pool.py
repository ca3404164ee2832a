"""SandboxPool: warm sessions handed out once, refilled, and every failure path ends."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from runpad.errors import ConfigurationError, SandboxClosed, SandboxStartError
from runpad.sandbox import Limits, LocalSandbox, Sandbox, SandboxEnvironment, SandboxPool
from runpad.sandbox.results import Execution, FileInfo, Language, OutputCallback

LIMITS = Limits(timeout=20, start_timeout=30)


class StubSandbox(Sandbox):
    """A session whose start can be held back, made to fail, and whose kernel can 'die'."""

    backend = "stub"

    def __init__(self, gate: asyncio.Event | None = None, fail: bool = False) -> None:
        super().__init__()
        self.gate = gate
        self.fail = fail
        self.alive = True

    async def _start(self) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise SandboxStartError("stub kernel did not come up")

    async def _close(self) -> None:
        self.alive = False

    def _is_alive(self) -> bool:
        return self.alive

    async def _run(
        self, code: str, *, language: Language, timeout: float, on_output: OutputCallback | None
    ) -> Execution:
        return Execution(stdout=code)

    async def _interrupt(self) -> None:
        pass

    async def _restart(self) -> None:
        pass

    async def _upload(self, data: bytes, dest: str) -> FileInfo:
        return FileInfo(name=dest, size=len(data), is_dir=False)

    async def _download(self, path: str) -> bytes:
        return b""

    async def _list_files(self, path: str) -> list[FileInfo]:
        return []


def recording(make: Callable[[], Sandbox]) -> tuple[Callable[[], Sandbox], list[Sandbox]]:
    """A factory that remembers every session it made."""
    made: list[Sandbox] = []

    def factory() -> Sandbox:
        made.append(make())
        return made[-1]

    return factory, made


@pytest.fixture
def broken_environment(tmp_path: Path) -> SandboxEnvironment:
    """A sandbox environment whose python does not exist inside the sandbox."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return SandboxEnvironment(tmp_path)


def kill_kernel(sandbox: LocalSandbox) -> None:
    """SIGKILL the bubblewrap process of a session, found by its work dir on the command line."""
    work = str(sandbox.layout.work).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"bwrap") and work in argv:
            os.kill(int(entry.name), signal.SIGKILL)


# -- with real local sessions ---------------------------------------------------------------


@pytest.mark.usefixtures("require_sandbox")
async def test_each_caller_gets_a_fresh_started_session_and_the_pool_refills() -> None:
    factory, made = recording(lambda: LocalSandbox(LIMITS))
    async with SandboxPool(factory, size=2) as pool:
        await pool.fill()
        assert pool.warm == 2

        first = await pool.acquire()
        second = await pool.acquire()
        try:
            assert first is not second
            assert first.is_running
            assert second.is_running
            await first.run("secret = 42")
            leaked = await second.run("secret")
            assert leaked.error is not None
            assert leaked.error.name == "NameError"
            assert (await first.run("secret")).text == "42"
            # Fresh interpreters: the first cell each caller runs is In[1].
            assert leaked.execution_count == 1

            await pool.fill()
            assert pool.warm == 2
            assert len(made) == 4
        finally:
            await first.close()
            await second.close()
    assert not any(sandbox.is_running for sandbox in made)


@pytest.mark.usefixtures("require_sandbox")
async def test_an_empty_pool_starts_a_session_on_acquire() -> None:
    async with SandboxPool(lambda: LocalSandbox(LIMITS), size=0) as pool:
        async with await pool.acquire() as sandbox:
            assert (await sandbox.run("1 + 1")).text == "2"
        assert pool.warm == 0


@pytest.mark.usefixtures("require_sandbox")
async def test_a_warm_session_whose_kernel_died_is_discarded() -> None:
    factory, made = recording(lambda: LocalSandbox(LIMITS))
    async with SandboxPool(factory, size=1) as pool:
        await pool.fill()
        (victim,) = made
        assert isinstance(victim, LocalSandbox)
        kill_kernel(victim)
        async with asyncio.timeout(10):
            # The loop learns of the exit from its child watcher; nothing to wait on but that.
            while victim.is_alive:  # noqa: ASYNC110
                await asyncio.sleep(0.02)

        async with await pool.acquire() as sandbox:
            assert sandbox is not victim
            assert (await sandbox.run("6 * 7")).text == "42"
        await asyncio.sleep(0)  # let the pool's background close of the victim begin
    assert not victim.is_running


@pytest.mark.usefixtures("require_sandbox")
async def test_sessions_that_fail_to_start_make_acquire_raise(
    broken_environment: SandboxEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    pool = SandboxPool(lambda: LocalSandbox(LIMITS, environment=broken_environment), size=2)
    async with pool, asyncio.timeout(60):
        with caplog.at_level(logging.WARNING, logger="runpad.sandbox.pool"):
            # The background starts fail first; acquire() then starts one itself.
            with pytest.raises(SandboxStartError, match="exited during start-up"):
                await pool.fill()
            with pytest.raises(SandboxStartError, match="exited during start-up"):
                await pool.acquire()
        assert pool.warm == 0
        assert "failed to start" in caplog.text


@pytest.mark.usefixtures("require_sandbox")
async def test_sessions_handed_out_outlive_the_pool() -> None:
    pool = SandboxPool(lambda: LocalSandbox(LIMITS), size=1)
    async with pool:
        sandbox = await pool.acquire()
    try:
        assert pool.is_closed
        assert (await sandbox.run("'still here'")).text == "'still here'"
    finally:
        await sandbox.close()


# -- with a stub backend: the pool's own logic ----------------------------------------------


async def test_acquire_waits_for_a_session_already_starting() -> None:
    gate = asyncio.Event()
    factory, made = recording(lambda: StubSandbox(gate))
    async with SandboxPool(factory, size=1) as pool:
        assert pool.starting == 1
        acquiring = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.01)
        assert not acquiring.done()
        gate.set()
        sandbox = await acquiring
        assert sandbox is made[0]  # the start already under way, not a new one
        await pool.fill()
        assert pool.warm == 1
        assert len(made) == 2


async def test_a_cancelled_acquire_leaves_its_session_to_the_pool() -> None:
    gate = asyncio.Event()
    factory, made = recording(lambda: StubSandbox(gate))
    async with SandboxPool(factory, size=1) as pool:
        acquiring = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.01)
        acquiring.cancel()
        with pytest.raises(asyncio.CancelledError):
            await acquiring
        gate.set()
        await pool.fill()
        assert pool.warm == 1
        assert await pool.acquire() is made[0]


async def test_a_dead_warm_stub_is_closed_and_replaced() -> None:
    factory, made = recording(StubSandbox)
    async with SandboxPool(factory, size=2) as pool:
        await pool.fill()
        dead = made[0]
        assert isinstance(dead, StubSandbox)
        dead.alive = False
        sandbox = await pool.acquire()
        assert sandbox is made[1]
        await pool.fill()
        assert pool.warm == 2
        assert not dead.is_running


async def test_a_failing_factory_raises_from_acquire_without_hanging() -> None:
    def factory() -> Sandbox:
        raise ConfigurationError("no such backend")

    async with SandboxPool(factory, size=1) as pool, asyncio.timeout(5):
        with pytest.raises(ConfigurationError, match="no such backend"):
            await pool.acquire()


async def test_close_closes_warm_and_starting_sessions() -> None:
    gate = asyncio.Event()
    factory, made = recording(lambda: StubSandbox(gate))
    pool = SandboxPool(factory, size=2)
    await pool.start()
    gate.set()
    await pool.close()
    assert len(made) == 2
    assert not any(sandbox.is_running for sandbox in made)
    with pytest.raises(SandboxClosed):
        await pool.acquire()


async def test_the_pool_belongs_to_one_event_loop() -> None:
    async with SandboxPool(StubSandbox, size=1) as pool:
        with pytest.raises(ConfigurationError, match="event loop"):
            await asyncio.to_thread(asyncio.run, pool.acquire())


def test_size_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="size"):
        SandboxPool(StubSandbox, size=-1)
