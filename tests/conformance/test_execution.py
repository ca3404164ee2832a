"""Running cells: output, state, errors as values, rich results, time and output limits."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import struct
import zlib

from runpad.sandbox import Execution, Limits, OutputChunk, Sandbox

from .conftest import Backend, OpenSession

_INTERLEAVED = """\
import sys
print("out 1", flush=True)
print("err 1", file=sys.stderr, flush=True)
print("out 2", flush=True)
print("err 2", file=sys.stderr, flush=True)
"""


def _merged(chunks: list[OutputChunk]) -> list[tuple[str, str]]:
    """Chunks with consecutive pieces of the same stream joined (backends may split them)."""
    merged: list[tuple[str, str]] = []
    for chunk in chunks:
        if merged and merged[-1][0] == chunk.stream:
            merged[-1] = (chunk.stream, merged[-1][1] + chunk.text)
        else:
            merged.append((chunk.stream, chunk.text))
    return merged


async def test_stdout_and_stderr_are_captured_and_streamed_in_order(sandbox: Sandbox) -> None:
    chunks: list[OutputChunk] = []
    execution = await sandbox.run(_INTERLEAVED, on_output=chunks.append)
    assert execution.ok
    assert execution.stdout == "out 1\nout 2\n"
    assert execution.stderr == "err 1\nerr 2\n"
    assert execution.results == []
    assert _merged(chunks) == [
        ("stdout", "out 1\n"),
        ("stderr", "err 1\n"),
        ("stdout", "out 2\n"),
        ("stderr", "err 2\n"),
    ]

    received: list[OutputChunk] = []

    async def on_output(chunk: OutputChunk) -> None:  # a coroutine callback is awaited
        received.append(chunk)

    await sandbox.run(_INTERLEAVED, on_output=on_output)
    assert _merged(received) == _merged(chunks)

    *streamed, last = [item async for item in sandbox.stream(_INTERLEAVED)]
    assert isinstance(last, Execution)
    assert last.stdout == execution.stdout
    streamed_chunks = [item for item in streamed if isinstance(item, OutputChunk)]
    assert len(streamed_chunks) == len(streamed)  # the Execution comes last, once
    assert _merged(streamed_chunks) == _merged(chunks)


async def test_variables_persist_between_cells(sandbox: Sandbox) -> None:
    first = await sandbox.run("x = 1")
    assert first.ok
    assert first.text is None
    second = await sandbox.run("x")
    assert second.text == "1"
    assert second.main_result is not None
    assert second.main_result.is_main_result
    assert first.execution_count is not None
    assert second.execution_count is not None
    assert second.execution_count > first.execution_count
    third = await sandbox.run("y = x + 41\ny")
    assert third.text == "42"


async def test_an_error_in_the_code_is_a_value_with_its_traceback(sandbox: Sandbox) -> None:
    execution = await sandbox.run(
        "print('before')\ndef lookup():\n    return undefined_name_q\n\nlookup()"
    )
    assert not execution.ok
    assert execution.error is not None
    assert execution.error.name == "NameError"
    assert "undefined_name_q" in execution.error.value
    assert "lookup" in execution.error.traceback
    assert "NameError" in execution.error.traceback
    assert execution.stdout == "before\n"
    assert (await sandbox.run("1 + 1")).text == "2"

    syntax = await sandbox.run("def broken(:\n    pass")
    assert syntax.error is not None
    assert syntax.error.name == "SyntaxError"
    assert (await sandbox.run("'still' + ' here'")).text == "'still here'"


async def test_matplotlib_figure_is_a_png(sandbox: Sandbox, backend: Backend) -> None:
    backend.require("matplotlib")
    execution = await sandbox.run(
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()"
    )
    assert execution.ok, execution.error
    assert len(execution.images) == 1
    width, height = _png_size(execution.images[0])
    assert width > 100
    assert height > 100


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking its signature and every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, kinds = 8, []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in chunk {kind!r}"
        kinds.append(kind)
        offset += 12 + length
    assert kinds[0] == b"IHDR"
    assert kinds[-1] == b"IEND"
    assert b"IDAT" in kinds
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_data_frame_is_text_html_and_table_rows(sandbox: Sandbox, backend: Backend) -> None:
    backend.require("dataframe")
    execution = await sandbox.run(
        "import pandas as pd\n"
        "pd.DataFrame({'city': ['Oslo', 'Lima', 'Pune'], 'population': [709, 10_004, 3_124]})"
    )
    assert execution.ok, execution.error
    result = execution.main_result
    assert result is not None
    assert {"text/plain", "text/html", "application/vnd.dataresource+json"} <= set(
        result.mime_types
    )
    assert result.text is not None
    assert "Lima" in result.text
    assert result.html is not None
    assert "<table" in result.html
    table = result.table
    assert table is not None
    assert [field["name"] for field in table["schema"]["fields"]] == [
        "index",
        "city",
        "population",
    ]
    assert [(row["city"], row["population"]) for row in table["data"]] == [
        ("Oslo", 709),
        ("Lima", 10_004),
        ("Pune", 3_124),
    ]


async def test_a_timeout_stops_a_busy_cell_and_the_session_answers(
    sandbox: Sandbox, backend: Backend
) -> None:
    backend.require("interrupt")
    await sandbox.run("kept = 41")
    execution = await sandbox.run("while True:\n    pass", timeout=1)
    assert execution.timed_out
    assert execution.error is not None
    assert execution.error.name == "TimeoutError"
    assert "timeout" in execution.error.value
    assert execution.duration_ms >= 1000
    assert not execution.restarted  # a pure Python loop takes the interrupt
    assert (await sandbox.run("kept + 1")).text == "42"

    # One bytecode that never returns to the interpreter loop: the interrupt may not land,
    # and then the kernel is restarted after Limits.interrupt_grace.
    execution = await sandbox.run("import itertools\nsum(itertools.repeat(1, 10**15))", timeout=1)
    assert execution.timed_out
    assert execution.error is not None
    assert execution.error.name == "TimeoutError"
    after = await sandbox.run("kept + 1")
    if execution.restarted:
        assert after.error is not None
        assert after.error.name == "NameError"
    else:
        assert after.text == "42"
    assert (await sandbox.run("6 * 7")).text == "42"


async def test_output_beyond_the_limit_keeps_head_and_tail_and_spills(
    open_session: OpenSession,
) -> None:
    sandbox = await open_session(Limits(output_bytes=1000))
    execution = await sandbox.run(
        "import sys\n"
        "for i in range(3000):\n"
        "    print(f'line {i:05d}')\n"
        "print('only a little', file=sys.stderr)"
    )
    whole = "".join(f"line {i:05d}\n" for i in range(3000))
    assert execution.ok
    assert execution.stdout_truncated
    assert execution.stdout.startswith("line 00000\nline 00001\n")
    assert execution.stdout.endswith("line 02998\nline 02999\n")
    assert len(execution.stdout) < 1000 + 200  # the kept part and one marker line
    assert "line 01500" not in execution.stdout
    assert execution.stdout_spill is not None
    assert execution.stdout_spill in execution.stdout  # the marker names the spill file
    assert execution.stdout_spill in {artifact.name for artifact in execution.artifacts}
    assert (await sandbox.download(execution.stdout_spill)).decode() == whole
    assert not execution.stderr_truncated
    assert execution.stderr == "only a little\n"
    assert execution.stderr_spill is None


async def test_execution_round_trips_through_json(sandbox: Sandbox) -> None:
    executions = [
        await sandbox.run("print('hi')\nopen('out.txt', 'w').write('data')\n{'a': [1, 2]}"),
        await sandbox.run("raise ValueError('bad value')"),
    ]
    assert executions[0].artifacts
    assert executions[0].text is not None
    assert executions[1].error is not None
    for execution in executions:
        restored = Execution.from_dict(json.loads(execution.to_json()))
        assert restored == dataclasses.replace(
            execution, duration_ms=round(execution.duration_ms, 3)
        )


async def test_shell_escape_lines(sandbox: Sandbox, backend: Backend) -> None:
    backend.require("shell-escape")
    execution = await sandbox.run("!echo hello from $((6 * 7))")
    assert execution.ok
    assert "hello from 42" in execution.stdout


async def test_shell_cells(sandbox: Sandbox, backend: Backend) -> None:
    backend.require("shell")
    execution = await sandbox.run(
        "echo $((6 * 7))\necho oops >&2\necho data > from_shell.txt", language="shell"
    )
    assert execution.ok, execution.error
    assert execution.language == "shell"
    assert execution.stdout == "42\n"
    assert execution.stderr == "oops\n"
    assert [artifact.name for artifact in execution.artifacts] == ["from_shell.txt"]
    failed = await sandbox.run("echo partial\nexit 3", language="shell")
    assert failed.error is not None
    assert "3" in failed.error.value
    assert failed.stdout == "partial\n"


async def test_cells_sent_at_once_run_one_at_a_time(sandbox: Sandbox) -> None:
    slow, quick = await asyncio.gather(
        sandbox.run("import time\ntime.sleep(0.5)\nprint('slow')"), sandbox.run("print('quick')")
    )
    assert (slow.stdout, quick.stdout) == ("slow\n", "quick\n")
    assert slow.error is None
    assert quick.error is None
