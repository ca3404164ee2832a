"""A session's life: restart, a dying kernel, close."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from runpad.errors import SandboxClosed
from runpad.sandbox import Language, Sandbox, open_sandbox
from tests.fixtures.blocking import langgraph_dev_blocking_check

from .conftest import CELL_LANGUAGES, Backend, OpenSession, pick, quoted

_SET_X_AND_WRITE = {
    "python": "x = 1\nopen('kept.txt', 'w').write('kept')",
    "javascript": "let x = 1\nDeno.writeTextFileSync('kept.txt', 'kept')",
}
_UNDEFINED_NAME = {"python": "NameError", "javascript": "ReferenceError"}


async def test_restart_clears_state_and_keeps_files(
    sandbox: Sandbox, backend: Backend, language: Language
) -> None:
    backend.require("restart")
    assert (await sandbox.run(pick(language, **_SET_X_AND_WRITE), language=language)).ok
    await sandbox.upload(b"uploaded", "uploaded.txt")
    await sandbox.restart()
    gone = await sandbox.run("x", language=language)
    assert gone.error is not None
    assert gone.error.name == pick(language, **_UNDEFINED_NAME)
    kept = await sandbox.run(
        pick(
            language,
            python="open('kept.txt').read()",
            javascript="Deno.readTextFileSync('kept.txt')",
        ),
        language=language,
    )
    assert kept.text == quoted(language, "kept")
    assert await sandbox.download("uploaded.txt") == b"uploaded"
    again = await sandbox.run(
        pick(language, python="y = 2\ny", javascript="let y = 2\ny"), language=language
    )
    assert again.text == "2"


async def test_a_dying_kernel_is_an_error_value_and_the_session_answers(
    sandbox: Sandbox, backend: Backend, language: Language
) -> None:
    backend.require("kernel-death")
    await sandbox.run(pick(language, **_SET_X_AND_WRITE), language=language)
    died = await sandbox.run(
        pick(
            language,
            python="import os\nprint('going', flush=True)\nos._exit(3)",
            javascript="console.log('going')\nDeno.exit(3)",
        ),
        language=language,
    )
    assert died.restarted
    assert died.error is not None
    assert died.error.name == "KernelDied"
    assert "restarted" in died.error.value
    assert (await sandbox.run("6 * 7", language=language)).text == "42"
    gone = await sandbox.run("x", language=language)
    assert gone.error is not None
    assert gone.error.name == pick(language, **_UNDEFINED_NAME)
    assert await sandbox.download("kept.txt") == b"kept"


async def test_a_kernel_that_dies_between_cells_is_replaced(
    sandbox: Sandbox, backend: Backend, language: Language
) -> None:
    backend.require("kernel-death")
    await sandbox.run(
        pick(
            language,
            python="x = 1\nimport os, threading\nthreading.Timer(0.2, os._exit, [3]).start()",
            javascript="let x = 1\nsetTimeout(() => Deno.exit(3), 200)",
        ),
        language=language,
    )
    await asyncio.sleep(1.5)  # the kernel exits while no cell runs
    # No hang: a fresh kernel answers.
    after = await asyncio.wait_for(sandbox.run("6 * 7", language=language), 60)
    assert after.text == "42"
    assert after.restarted
    assert "restarted" in after.stderr
    gone = await sandbox.run("x", language=language)
    assert gone.error is not None
    assert gone.error.name == pick(language, **_UNDEFINED_NAME)
    assert not gone.restarted


@pytest.mark.parametrize("language", CELL_LANGUAGES)
async def test_a_language_the_backend_lacks_is_an_error_value_naming_those_it_has(
    sandbox: Sandbox, backend: Backend, language: Language
) -> None:
    if language in backend.languages:
        pytest.skip(f"{backend.name!r} runs {language} cells")
    execution = await sandbox.run("1 + 1", language=language)
    assert execution.error is not None
    assert execution.error.name == "UnsupportedLanguage"
    assert language in execution.error.value
    for declared in backend.languages:
        assert declared in execution.error.value
    assert (await sandbox.run("1 + 1")).text == "2"  # the session goes on


async def test_another_languages_kernel_dies_alone(
    sandbox: Sandbox, backend: Backend, language: Language
) -> None:
    # Each language has its own kernel: one dying leaves the others' state alone.
    backend.require("kernel-death")
    if language == "python":
        pytest.skip("the Python kernel is the session's first: the cases above cover it")
    assert (await sandbox.run("kept = 'python state'")).ok
    died = await sandbox.run("Deno.exit(3)", language=language)
    assert died.error is not None
    assert died.error.name == "KernelDied"
    assert (await sandbox.run("kept")).text == "'python state'"


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
    calls |= {
        f"run {language}": lambda language=language: sandbox.run("1 + 1", language=language)
        for language in CELL_LANGUAGES
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


async def test_a_session_makes_no_blocking_call_on_the_event_loop(
    open_session: OpenSession, backend: Backend, language: Language
) -> None:
    """Under `langgraph dev` (Studio) a file or socket call on the event loop is an error
    in the run: a session's whole life must do its blocking work in threads."""
    if backend.name == "fake":
        pytest.skip("the fake runs each cell in the test's own process, on purpose")
    with langgraph_dev_blocking_check():
        sandbox = await open_session()
        wrote = await sandbox.run(
            pick(
                language,
                python="open('made.txt', 'w').write('made')\n6 * 7",
                javascript="Deno.writeTextFileSync('made.txt', 'made')\n6 * 7",
            ),
            language=language,
        )
        assert wrote.text == "42", wrote
        assert [artifact.name for artifact in wrote.artifacts] == ["made.txt"]
        await sandbox.upload(b"uploaded", "uploaded.txt")
        assert await sandbox.download("uploaded.txt") == b"uploaded"
        assert {"made.txt", "uploaded.txt"} <= {info.name for info in await sandbox.list_files()}
        await sandbox.restart()
        assert (await sandbox.run("1 + 1", language=language)).text == "2"
        await sandbox.close()
