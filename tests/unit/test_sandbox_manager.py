"""SandboxManager.prestart: a resumed run's session starts early and is still fresh."""

from __future__ import annotations

from runpad.errors import SandboxStartError
from runpad.sandbox.base import Sandbox
from runpad.sandbox.fake import FakeSandbox
from runpad.sandbox.manager import SandboxManager


class _Recording:
    """A factory of fake sandboxes that remembers what it made; `failing` ones cannot start."""

    def __init__(self, failing: int = 0) -> None:
        self.made: list[Sandbox] = []
        self.failing = failing

    def __call__(self) -> Sandbox:
        sandbox: Sandbox = FakeSandbox() if len(self.made) >= self.failing else _Broken()
        self.made.append(sandbox)
        return sandbox


class _Broken(FakeSandbox):
    async def _start(self) -> None:
        raise SandboxStartError("no kernel today")


async def test_a_prestarted_session_is_handed_out_fresh_once() -> None:
    factory = _Recording()
    manager = SandboxManager("fake", factory=factory)
    try:
        manager.prestart("t")
        manager.prestart("t")  # once is enough

        sandbox, fresh = await manager.session("t")
        again, fresh_again = await manager.session("t")

        assert fresh  # the executor rebuilds the kernel exactly once
        assert not fresh_again
        assert sandbox is again is factory.made[0]
        assert len(factory.made) == 1
        assert (await sandbox.run("1 + 1")).text == "2"
    finally:
        await manager.aclose()


async def test_a_failed_prestart_is_forgotten_and_started_again() -> None:
    factory = _Recording(failing=1)
    manager = SandboxManager("fake", factory=factory)
    try:
        manager.prestart("t")

        sandbox, fresh = await manager.session("t")

        assert fresh
        assert sandbox.is_running
        assert sandbox is factory.made[1]
        assert not factory.made[0].is_running
    finally:
        await manager.aclose()


async def test_unclaimed_prestarts_are_closed_by_aclose_and_discard() -> None:
    factory = _Recording()
    manager = SandboxManager("fake", factory=factory)
    manager.prestart("kept")
    manager.prestart("dropped")

    await manager.discard("dropped")
    assert not manager.has_session("dropped")
    await manager.aclose()

    assert len(factory.made) == 2  # both started (a fake starts at once), both closed
    for sandbox in factory.made:
        assert isinstance(sandbox, FakeSandbox)
        assert not sandbox.workdir.root.exists()


async def test_a_prestart_never_claimed_is_closed_when_idle() -> None:
    factory = _Recording()
    manager = SandboxManager("fake", factory=factory, idle_seconds=0)
    try:
        manager.prestart("abandoned")  # say its run failed before any cell

        await manager.session("other")  # a server's next request closes idle sessions

        abandoned = factory.made[0]
        assert isinstance(abandoned, FakeSandbox)
        assert not abandoned.is_running
        assert not abandoned.workdir.root.exists()
    finally:
        await manager.aclose()
