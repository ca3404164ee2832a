"""JavaScript and TypeScript cells in the real local sandbox: Deno's kernel beside Python's.

Every test here runs the real bubblewrap sandbox with the Deno of the sandbox environment
(`runpad sandbox setup` installs it); none runs on unsafe-local except where it says why.
"""

from __future__ import annotations

import json
import secrets
import shutil
import struct
import warnings
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import cast

import pytest

from runpad.agents.session import _replay
from runpad.agents.snapshot import Restored
from runpad.errors import DenoUnavailable
from runpad.sandbox import Limits, LocalSandbox, SandboxEnvironment, find_environment
from runpad.sandbox.environment import SANDBOX_NPM_PACKAGES
from runpad.sandbox.fake import FakeSandbox
from runpad.sandbox.kernel.deno import check_imports, find_deno
from runpad.sandbox.local import sandbox as local_sandbox
from runpad.sandbox.local.check import DENO_LAYER, check_isolation
from runpad.sandbox.results import OutputChunk
from runpad.sandbox.unsafe_local import UnsafeLocalSandbox, UnsafeSandboxWarning
from runpad.state import AnalysisState

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("require_deno")]

LIMITS = Limits(timeout=20, interrupt_grace=2, start_timeout=30)


@pytest.fixture
async def sandbox() -> AsyncIterator[LocalSandbox]:
    async with LocalSandbox(LIMITS) as session:
        yield session


def _png() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


# -- cells ---------------------------------------------------------------------------------


async def test_console_log_streams_as_stdout_and_state_persists(sandbox: LocalSandbox) -> None:
    chunks: list[OutputChunk] = []
    first = await sandbox.run(
        "let total = 0;\nfor (const n of [1, 2, 3]) { total += n; console.log(`n=${n}`); }",
        language="javascript",
        on_output=chunks.append,
    )
    assert first.ok, first.error
    assert first.stdout == "n=1\nn=2\nn=3\n"
    assert "".join(c.text for c in chunks if c.stream == "stdout") == first.stdout
    assert first.language == "javascript"
    second = await sandbox.run("total * 7", language="javascript")
    assert second.text == "42"
    warned = await sandbox.run("console.error('careful')", language="javascript")
    assert warned.stderr == "careful\n"
    assert warned.stdout == ""


async def test_typescript_types_and_javascript_share_one_kernel(sandbox: LocalSandbox) -> None:
    defined = await sandbox.run(
        "interface Point { x: number; y: number }\n"
        "const norm1 = (p: Point): number => Math.abs(p.x) + Math.abs(p.y);",
        language="typescript",
    )
    assert defined.ok, defined.error
    used = await sandbox.run("norm1({ x: -40, y: 2 })", language="javascript")
    assert used.text == "42"
    # Python's namespace is another kernel's: the name is not there.
    python = await sandbox.run("norm1", language="python")
    assert python.error is not None
    assert python.error.name == "NameError"


async def test_long_output_is_whole_and_stays_in_its_cell(sandbox: LocalSandbox) -> None:
    # Deno's kernel publishes output from a queue that can lag its idle status.
    lines = await sandbox.run(
        "for (let i = 0; i < 3000; i++) console.log('line ' + i)", language="javascript"
    )
    assert lines.stdout.splitlines() == [f"line {i}" for i in range(3000)]
    after = await sandbox.run("'next'", language="javascript")
    assert after.stdout == ""
    assert after.text == '"next"'


async def test_errors_carry_name_message_and_stack(sandbox: LocalSandbox) -> None:
    execution = await sandbox.run(
        "function inner(): never { throw new RangeError('too far') }\n"
        "function outer() { inner() }\n"
        "outer()",
        language="typescript",
    )
    assert execution.error is not None
    assert (execution.error.name, execution.error.value) == ("RangeError", "too far")
    assert "at inner" in execution.error.traceback
    assert "at outer" in execution.error.traceback
    assert not execution.ok
    # The session goes on after an error.
    assert (await sandbox.run("1 + 1", language="javascript")).text == "2"


async def test_rich_display_comes_back_as_mime_results(sandbox: LocalSandbox) -> None:
    png = _png()
    await sandbox.upload(png, "dot.png")
    html = await sandbox.run("Deno.jupyter.html`<b>bold</b>`", language="javascript")
    assert html.results[0].html == "<b>bold</b>"
    svg = await sandbox.run(
        "Deno.jupyter.svg`<svg xmlns='http://www.w3.org/2000/svg' width='2' height='2'/>`",
        language="javascript",
    )
    assert svg.results[0].data["image/svg+xml"].startswith("<svg")
    image = await sandbox.run("Deno.jupyter.image('dot.png')", language="javascript")
    assert image.images == [png]
    shown = await sandbox.run(
        "await Deno.jupyter.display({ 'application/json': { rows: 3 }, 'text/plain': 'three' },"
        " { raw: true }); console.log('after')",
        language="javascript",
    )
    assert shown.results[0].data == {"application/json": {"rows": 3}, "text/plain": "three"}
    assert not shown.results[0].is_main_result
    assert shown.stdout == "after\n"


async def test_files_are_shared_with_python_both_ways(sandbox: LocalSandbox) -> None:
    written = await sandbox.run(
        "await Deno.writeTextFile('from_js.json', JSON.stringify({ rows: [1, 2, 3] }))",
        language="javascript",
    )
    assert written.ok, written.error
    assert [artifact.name for artifact in written.artifacts] == ["from_js.json"]
    read = await sandbox.run(
        "import json\nrows = json.load(open('from_js.json'))['rows']\n"
        "open('from_py.csv', 'w').write('x\\n' + '\\n'.join(str(r * 10) for r in rows))\n"
        "sum(rows)",
        language="python",
    )
    assert read.text == "6"
    back = await sandbox.run(
        "(await Deno.readTextFile('from_py.csv')).split('\\n').slice(1).map(Number)",
        language="typescript",
    )
    assert back.text == "[ 10, 20, 30 ]"
    assert json.loads(await sandbox.download("from_js.json")) == {"rows": [1, 2, 3]}


async def test_timeout_interrupts_the_cell_and_keeps_the_state(sandbox: LocalSandbox) -> None:
    await sandbox.run("const kept = 'still here'", language="javascript")
    busy = await sandbox.run("while (true) {}", language="javascript", timeout=1)
    assert busy.timed_out
    assert busy.error is not None
    assert busy.error.name == "TimeoutError"
    assert "interrupted" in busy.error.value
    assert not busy.restarted
    assert (await sandbox.run("kept", language="javascript")).text == '"still here"'


async def test_a_cell_an_interrupt_cannot_stop_restarts_the_deno_kernel() -> None:
    # An interrupt stops running JavaScript, not a wait on a promise that never settles.
    async with LocalSandbox(Limits(timeout=20, interrupt_grace=1, start_timeout=30)) as sandbox:
        await sandbox.run("kept = 'python'")
        await sandbox.run("const lost = 'javascript'", language="javascript")
        stuck = await sandbox.run("await new Promise(() => {})", language="javascript", timeout=1)
        assert stuck.timed_out
        assert stuck.restarted
        assert stuck.error is not None
        assert "restarted" in stuck.error.value
        after = await sandbox.run("typeof lost", language="javascript")
        assert after.text == '"undefined"'
        assert (await sandbox.run("kept")).text == "'python'"


async def test_a_dead_deno_kernel_is_restarted_and_python_is_untouched(
    sandbox: LocalSandbox,
) -> None:
    await sandbox.run("survivor = 7", language="python")
    await sandbox.run("const lost = 1", language="javascript")
    died = await sandbox.run("Deno.exit(3)", language="javascript")
    assert died.error is not None
    assert died.error.name == "KernelDied"
    assert "JavaScript kernel" in died.error.value
    assert "status 3" in died.error.value
    assert died.restarted
    gone = await sandbox.run("typeof lost", language="javascript")
    assert gone.text == '"undefined"'
    assert (await sandbox.run("survivor", language="python")).text == "7"


async def test_the_python_kernel_restarting_leaves_javascript_running(
    sandbox: LocalSandbox,
) -> None:
    # Each kernel has its own cgroup inside the session's: killing one spares the other.
    await sandbox.run("const kept = 41", language="javascript")
    died = await sandbox.run("import os; os._exit(1)", language="python")
    assert died.error is not None
    assert died.error.name == "KernelDied"
    assert (await sandbox.run("kept + 1", language="javascript")).text == "42"


@pytest.mark.slow
async def test_memory_limit_stops_javascript_with_the_cause() -> None:
    async with LocalSandbox(Limits(timeout=60, memory_mb=256, start_timeout=30)) as sandbox:
        await sandbox.run("x = 5", language="python")
        bomb = await sandbox.run(
            "const hog: number[][] = []; while (true) hog.push(new Array(1e6).fill(1.5))",
            language="typescript",
        )
        assert bomb.error is not None
        assert bomb.error.name == "KernelDied", bomb.error
        assert "out of memory" in bomb.error.value
        assert (await sandbox.run("6 * 7", language="javascript")).text == "42"
        assert (await sandbox.run("x", language="python")).text == "5"


async def test_javascript_runs_where_cgroups_are_not_writable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # rlimits stand in for the cgroup there, but V8 cannot start under an address-space
    # limit: the Deno kernel goes without it (its heap limit bounds it).
    monkeypatch.setattr(local_sandbox, "create_session_cgroup", lambda name, limits: None)
    async with LocalSandbox(LIMITS) as sandbox:
        assert sandbox.cgroup_controllers == set()
        execution = await sandbox.run("[1, 2, 3].reduce((a, b) => a + b)", language="javascript")
        assert execution.text == "6"
        assert (
            await sandbox.run("import resource; resource.getrlimit(resource.RLIMIT_AS)[0] > 0")
        ).text == "True"


async def test_restart_and_close_stop_the_deno_kernel(sandbox: LocalSandbox) -> None:
    await sandbox.run("const before = 1", language="javascript")
    first = sandbox._deno_process
    assert first is not None
    assert first.returncode is None
    await sandbox.restart()
    assert first.returncode is not None  # restart clears every kernel's variables
    assert (await sandbox.run("typeof before", language="javascript")).text == '"undefined"'
    second = sandbox._deno_process
    assert second is not None
    assert second.returncode is None
    await sandbox.close()
    assert second.returncode is not None


# -- the Deno wall: permissions given up inside the sandbox ----------------------------------


@pytest.mark.parametrize(
    ("code", "permission"),
    [
        ("await fetch('http://127.0.0.1:8123/')", "net"),
        ("Deno.listen({ port: 8124 })", "net"),
        ("new Deno.Command('/bin/sh', { args: ['-c', 'id'] }).outputSync()", "run"),
        ("Deno.env.get('HOME')", "env"),
        ("Deno.dlopen('libc.so.6', { getpid: { parameters: [], result: 'i32' } })", "ffi"),
        ("Deno.hostname()", "sys"),
    ],
)
async def test_deno_permissions_are_given_up(
    sandbox: LocalSandbox, code: str, permission: str
) -> None:
    execution = await sandbox.run(code, language="javascript")
    assert execution.error is not None
    assert execution.error.name == "NotCapable", execution.error
    assert f"Requires {permission} access" in execution.error.value
    asked = await sandbox.run(
        f"(await Deno.permissions.request({{ name: '{permission}' }})).state",
        language="javascript",
    )
    assert asked.text == '"denied"'


async def test_file_access_is_bounded_by_bubblewrap_not_deno(sandbox: LocalSandbox) -> None:
    # Deno keeps its read and write permissions (it cannot keep only the work dir's): what
    # holds is that nothing else of the host is in the sandbox, and only /work is writable.
    host_file = Path(__file__).resolve()
    read = await sandbox.run(f"await Deno.readTextFile({str(host_file)!r})", language="javascript")
    assert read.error is not None
    assert read.error.name == "NotFound", read.error
    write = await sandbox.run(
        f"await Deno.writeTextFile({str(sandbox.layout.environment.path / 'x')!r}, 'x')",
        language="javascript",
    )
    assert write.error is not None
    assert "Read-only file system" in write.error.value


# -- offline npm packages ----------------------------------------------------------------------


async def test_cached_npm_packages_import_offline(sandbox: LocalSandbox) -> None:
    execution = await sandbox.run(
        "import _ from 'npm:lodash';\n"
        "import { mean } from 'npm:d3-array@3';\n"
        "import { format } from 'npm:date-fns';\n"
        "import Papa from 'npm:papaparse';\n"
        "import * as ss from 'npm:simple-statistics';\n"
        "const rows = Papa.parse('a,b\\n1,2\\n3,4', { header: true, dynamicTyping: true }).data;\n"
        "[_.chunk([1, 2, 3, 4], 2), mean([1, 2, 3]), format(new Date(2024, 0, 31), 'yyyy-MM-dd'),"
        " rows[1].b, ss.median([5, 1, 3])]",
        language="typescript",
    )
    assert execution.ok, execution.error
    assert execution.text == '[ [ [ 1, 2 ], [ 3, 4 ] ], 2, "2024-01-31", 4, 3 ]'


async def test_an_uncached_npm_package_is_a_clear_error(sandbox: LocalSandbox) -> None:
    execution = await sandbox.run(
        "import pad from 'npm:left-pad'; pad('1', 3)", language="javascript"
    )
    assert execution.error is not None
    assert execution.error.name == "ImportError"
    assert "npm:left-pad" in execution.error.value
    assert "no network" in execution.error.value
    for spec in SANDBOX_NPM_PACKAGES:
        if not spec.startswith("@types/"):
            assert f"npm:{spec.rpartition('@')[0]}" in execution.error.value
    wrong_major = await sandbox.run("import _ from 'npm:lodash@3'", language="javascript")
    assert wrong_major.error is not None
    assert "npm:lodash@3" in wrong_major.error.value


async def test_a_url_import_fails_with_the_no_network_hint(sandbox: LocalSandbox) -> None:
    execution = await sandbox.run(
        "import { x } from 'https://example.com/mod.ts'", language="typescript"
    )
    assert execution.error is not None
    assert "no network" in execution.error.value
    assert "npm:lodash" in execution.error.value


def test_import_check_reads_specifiers_not_names() -> None:
    assert check_imports("import _ from 'npm:lodash/chunk'") is None
    assert check_imports('const d = await import("npm:d3-array@^3.2")') is None
    assert check_imports("// npm:left-pad is mentioned, not imported") is None
    missing = check_imports("import { join } from 'jsr:@std/path'")
    assert missing is not None
    assert "jsr:@std/path" in missing.value
    exact = check_imports("import _ from 'npm:lodash@4.0.0'", {"lodash": ["4.18.1"]})
    assert exact is not None
    assert "lodash (4.18.1)" in exact.value


# -- languages a backend lacks, and a missing Deno ---------------------------------------------


async def test_a_language_the_backend_lacks_is_an_error_value() -> None:
    async with FakeSandbox() as fake:
        execution = await fake.run("console.log(1)", language="javascript")
    assert execution.error is not None
    assert execution.error.name == "UnsupportedLanguage"
    assert "'javascript'" in execution.error.value
    assert "python, shell" in execution.error.value


async def test_an_unknown_language_is_an_error_value(sandbox: LocalSandbox) -> None:
    execution = await sandbox.run("DISPLAY 1", language="cobol")  # type: ignore[arg-type]
    assert execution.error is not None
    assert execution.error.name == "UnsupportedLanguage"
    assert "javascript, typescript" in execution.error.value


@pytest.fixture
def environment_without_deno() -> Iterator[SandboxEnvironment]:
    """The sandbox environment as links, less its Deno.

    Its interpreter links straight to the base one, which the local sandbox binds, so that
    `runpad sandbox check`'s probe (standard library only) runs in it; its packages are
    links the local sandbox does not bind, so only unsafe-local starts a kernel from it. It
    lies beside the real one: the sandbox's own /tmp would hide a directory under /tmp.
    """
    real = find_environment().path
    copy = real.parent / f"test-env-{secrets.token_hex(4)}"
    (copy / "bin").mkdir(parents=True)
    try:
        for entry in real.iterdir():
            if entry.name != "bin":
                (copy / entry.name).symlink_to(entry)
        for program in (real / "bin").iterdir():
            if program.name.startswith("python"):
                (copy / "bin" / program.name).symlink_to(program.resolve())
            elif program.name != "deno":
                (copy / "bin" / program.name).symlink_to(program)
        yield SandboxEnvironment(copy)
    finally:
        shutil.rmtree(copy)  # the links only, never what they point to


def test_find_deno_says_how_to_install_it(environment_without_deno: SandboxEnvironment) -> None:
    with pytest.raises(DenoUnavailable, match="runpad sandbox setup"):
        find_deno(environment_without_deno)


async def test_a_missing_deno_is_an_error_value_at_run_time(
    environment_without_deno: SandboxEnvironment,
) -> None:
    # unsafe-local: the linked environment works only unconfined (the links point outside
    # what the local sandbox binds); the code path is the kernel base class's, shared.
    environment = environment_without_deno
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeSandboxWarning)
        async with UnsafeLocalSandbox(LIMITS, environment=environment) as sandbox:
            execution = await sandbox.run("1 + 1", language="javascript")
            assert execution.error is not None
            assert execution.error.name == "DenoUnavailable"
            assert "runpad sandbox setup" in execution.error.value
            assert (await sandbox.run("1 + 1")).text == "2"


def test_sandbox_check_reports_deno(
    environment_without_deno: SandboxEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = check_isolation(LIMITS)
    (deno,) = report.runtimes
    assert deno.name == DENO_LAYER
    assert deno.active, deno.detail
    assert deno.detail.startswith("deno 2.")
    assert "lodash 4." in deno.detail
    assert report.to_dict()["runtimes"][0]["active"] is True
    monkeypatch.setenv("RUNPAD_SANDBOX_ENV", str(environment_without_deno.path))
    missing = check_isolation(LIMITS)
    assert missing.problem is None, missing.problem
    (deno,) = missing.runtimes
    assert not deno.active
    assert "runpad sandbox setup" in deno.detail
    assert missing.isolated  # Deno is no isolation layer: the Python sandbox holds without it


# -- unsafe-local: the same kernel, Deno's permissions only -----------------------------------


async def test_unsafe_local_runs_javascript_with_the_permissions_given_up() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeSandboxWarning)
        async with UnsafeLocalSandbox(LIMITS) as sandbox:
            await sandbox.run("await Deno.writeTextFile('n.txt', '21')", language="javascript")
            doubled = await sandbox.run("int(open('n.txt').read()) * 2")
            assert doubled.text == "42"
            net = await sandbox.run("await fetch('http://127.0.0.1:8125/')", language="javascript")
            assert net.error is not None
            assert net.error.name == "NotCapable"


# -- resume: JavaScript state is rebuilt by replay ------------------------------------------


def _cells(*cells: tuple[str, str, bool]) -> AnalysisState:
    """A run's state with these cells (language, code, ok), numbered from 1."""
    records = [
        {"index": n, "language": language, "code": code, "ok": ok, "artifacts": []}
        for n, (language, code, ok) in enumerate(cells, start=1)
    ]
    return cast(AnalysisState, {"cells": records})


@pytest.mark.parametrize("snapshot_cell", [None, 2])
async def test_replay_rebuilds_javascript_state_whatever_the_snapshot_holds(
    sandbox: LocalSandbox, snapshot_cell: int | None
) -> None:
    state = _cells(
        ("javascript", "const seen: string[] = ['js1']", True),
        ("python", "seen = ['py2']", True),
        ("typescript", "seen.push('js3')", True),
        ("python", "seen.append('py4')", True),
        ("javascript", "seen.push('failed'); throw new Error('x')", False),
    )
    if snapshot_cell is not None:  # what loading cell 2's snapshot leaves: Python's state only
        await sandbox.run("seen = ['py2']")
    events: list[object] = []
    await _replay(sandbox, state, events.append, Restored(snapshot_cell))
    assert (await sandbox.run("seen", language="javascript")).text == '[ "js1", "js3" ]'
    assert (await sandbox.run("seen")).text == "['py2', 'py4']"
    (event,) = events
    assert cast(dict[str, object], event)["replayed"] == (3 if snapshot_cell else 4)
