"""The e2b backend against E2B's live service: runs only where E2B_API_KEY is set."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from runpad.sandbox import Limits, open_sandbox
from runpad.sandbox.e2b import E2BSandbox

pytestmark = [
    pytest.mark.integration,
    pytest.mark.live_service,
    pytest.mark.skipif(
        not os.environ.get("E2B_API_KEY"),
        reason="E2B_API_KEY is not set: the live E2B tests need a key and network",
    ),
]


@pytest.fixture
async def sandbox() -> AsyncIterator[E2BSandbox]:
    session = open_sandbox("e2b", limits=Limits(timeout=30, interrupt_grace=5))
    assert isinstance(session, E2BSandbox)
    async with session:
        yield session


async def test_state_results_and_errors(sandbox: E2BSandbox) -> None:
    await sandbox.run("x = 21")
    assert (await sandbox.run("x * 2")).text == "42"
    failed = await sandbox.run("1 / 0")
    assert failed.error is not None
    assert failed.error.name == "ZeroDivisionError"
    chart = await sandbox.run("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")
    assert chart.images
    assert chart.images[0].startswith(b"\x89PNG")


async def test_files_and_artifacts(sandbox: E2BSandbox) -> None:
    await sandbox.upload(b"1,2\n", "in.csv")
    execution = await sandbox.run("open('out.txt', 'w').write(open('in.csv').read())")
    assert [artifact.name for artifact in execution.artifacts] == ["out.txt"]
    assert await sandbox.download("out.txt") == b"1,2\n"


async def test_a_timeout_leaves_a_session_that_answers(sandbox: E2BSandbox) -> None:
    slow = await sandbox.run("import time\ntime.sleep(60)", timeout=3)
    assert slow.timed_out
    assert (await sandbox.run("6 * 7")).text == "42"
