"""SyncSandbox: the blocking facade, on real local sessions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runpad.errors import SandboxClosed, SandboxStartError
from runpad.sandbox import Limits, LocalSandbox, SandboxEnvironment, SyncSandbox
from runpad.sandbox.results import OutputChunk

pytestmark = pytest.mark.usefixtures("require_sandbox")

LIMITS = Limits(timeout=20, start_timeout=30)


@pytest.fixture
def sandbox() -> Iterator[SyncSandbox]:
    with SyncSandbox(LocalSandbox(LIMITS)) as sync_sandbox:
        yield sync_sandbox


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("runpad-local")]


def test_cells_share_state_and_return_executions(sandbox: SyncSandbox) -> None:
    assert sandbox.is_running
    assert sandbox.run("x = 41").ok
    execution = sandbox.run("x + 1")
    assert execution.text == "42"
    shell = sandbox.run("echo from-bash", language="shell")
    assert shell.stdout == "from-bash\n"


def test_files_go_both_ways(sandbox: SyncSandbox, tmp_path: Path) -> None:
    info = sandbox.upload(b"a,b\n1,2\n", "data/input.csv")
    assert info.size == 8
    local = tmp_path / "notes.txt"
    local.write_text("hello")
    sandbox.upload(local, "notes.txt")
    sandbox.run("open('out.txt', 'w').write(open('notes.txt').read().upper())")
    assert sandbox.download("out.txt") == b"HELLO"
    names = [entry.name for entry in sandbox.list_files()]
    assert {"data/input.csv", "notes.txt", "out.txt"} <= set(names)


def test_on_output_is_called_from_the_loop_thread(sandbox: SyncSandbox) -> None:
    chunks: list[tuple[OutputChunk, str]] = []
    execution = sandbox.run(
        "import sys; print('out'); print('err', file=sys.stderr)",
        on_output=lambda chunk: chunks.append((chunk, threading.current_thread().name)),
    )
    assert execution.stdout == "out\n"
    assert [c.stream for c, _ in chunks] == ["stdout", "stderr"]
    assert {name for _, name in chunks} == {"runpad-local-sandbox"}


def test_a_sync_call_from_the_loop_thread_fails_instead_of_hanging(sandbox: SyncSandbox) -> None:
    def list_files_from_the_loop(chunk: OutputChunk) -> None:
        sandbox.list_files()

    with pytest.raises(RuntimeError, match="own event loop thread"):
        sandbox.run("print('x')", on_output=list_files_from_the_loop)
    assert sandbox.run("1 + 1").text == "2"


def test_interrupt_from_another_thread_stops_the_cell(sandbox: SyncSandbox) -> None:
    sandbox.run("import time")
    timer = threading.Timer(0.5, sandbox.interrupt)
    timer.start()
    try:
        execution = sandbox.run("time.sleep(30)")
    finally:
        timer.cancel()
    assert execution.error is not None
    assert execution.error.name == "KeyboardInterrupt"
    assert sandbox.run("'alive'").text == "'alive'"


def test_restart_clears_variables_and_keeps_files(sandbox: SyncSandbox) -> None:
    sandbox.run("y = 1; open('kept.txt', 'w').write('k')")
    sandbox.restart()
    after = sandbox.run("y")
    assert after.error is not None
    assert after.error.name == "NameError"
    assert sandbox.download("kept.txt") == b"k"


def test_close_ends_the_session_and_its_thread() -> None:
    inner = LocalSandbox(LIMITS)
    with SyncSandbox(inner) as sandbox:
        assert len(loop_threads()) == 1
    assert not inner.is_running
    assert loop_threads() == []
    with pytest.raises(SandboxClosed):
        sandbox.run("1")
    sandbox.close()  # idempotent


def test_a_failed_start_raises_and_stops_the_thread(tmp_path: Path) -> None:
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    broken = LocalSandbox(LIMITS, environment=SandboxEnvironment(tmp_path))
    with pytest.raises(SandboxStartError), SyncSandbox(broken):
        pass
    assert loop_threads() == []
