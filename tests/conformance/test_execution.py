"""Running cells: output, state, errors as values, rich results, time and output limits."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import struct
import zlib

from runpad.sandbox import Execution, Language, Limits, OutputChunk, Sandbox

from .conftest import Backend, OpenSession, pick, quoted

_INTERLEAVED = {
    "python": """\
import sys
print("out 1", flush=True)
print("err 1", file=sys.stderr, flush=True)
print("out 2", flush=True)
print("err 2", file=sys.stderr, flush=True)
""",
    "javascript": """\
console.log("out 1");
console.error("err 1");
console.log("out 2");
console.error("err 2");
""",
}


def _merged(chunks: list[OutputChunk]) -> list[tuple[str, str]]:
    """Chunks with consecutive pieces of the same stream joined (backends may split them)."""
    merged: list[tuple[str, str]] = []
    for chunk in chunks:
        if merged and merged[-1][0] == chunk.stream:
            merged[-1] = (chunk.stream, merged[-1][1] + chunk.text)
        else:
            merged.append((chunk.stream, chunk.text))
    return merged


async def test_stdout_and_stderr_are_captured_and_streamed_in_order(
    sandbox: Sandbox, language: Language
) -> None:
    code = pick(language, **_INTERLEAVED)
    chunks: list[OutputChunk] = []
    execution = await sandbox.run(code, language=language, on_output=chunks.append)
    assert execution.ok, execution.error
    assert execution.language == language
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

    await sandbox.run(code, language=language, on_output=on_output)
    assert _merged(received) == _merged(chunks)

    *streamed, last = [item async for item in sandbox.stream(code, language=language)]
    assert isinstance(last, Execution)
    assert last.stdout == execution.stdout
    streamed_chunks = [item for item in streamed if isinstance(item, OutputChunk)]
    assert len(streamed_chunks) == len(streamed)  # the Execution comes last, once
    assert _merged(streamed_chunks) == _merged(chunks)


async def test_variables_persist_between_cells(sandbox: Sandbox, language: Language) -> None:
    first = await sandbox.run(
        pick(language, python="x = 1", javascript="let x = 1", typescript="let x: number = 1"),
        language=language,
    )
    assert first.ok, first.error
    assert first.text is None
    second = await sandbox.run("x", language=language)
    assert second.text == "1"
    assert second.main_result is not None
    assert second.main_result.is_main_result
    assert first.execution_count is not None
    assert second.execution_count is not None
    assert second.execution_count > first.execution_count
    third = await sandbox.run(
        pick(
            language,
            python="y = x + 41\ny",
            javascript="const y = x + 41\ny",
            typescript="const y: number = x + 41\ny",
        ),
        language=language,
    )
    assert third.text == "42"
    words = await sandbox.run(
        pick(language, python="'still' + ' here'", javascript="'still' + ' here'"),
        language=language,
    )
    assert words.text == quoted(language, "still here")


_UNDEFINED_NAME = {"python": "NameError", "javascript": "ReferenceError"}


async def test_an_error_in_the_code_is_a_value_with_its_traceback(
    sandbox: Sandbox, language: Language
) -> None:
    execution = await sandbox.run(
        pick(
            language,
            python="print('before')\ndef lookup():\n    return undefined_name_q\n\nlookup()",
            javascript="console.log('before')\n"
            "function lookup() {\n  return undefined_name_q\n}\nlookup()",
            typescript="console.log('before')\n"
            "function lookup(): number {\n  // @ts-ignore: the error under test\n"
            "  return undefined_name_q\n}\nlookup()",
        ),
        language=language,
    )
    assert not execution.ok
    assert execution.error is not None
    name = pick(language, **_UNDEFINED_NAME)
    assert execution.error.name == name
    assert "undefined_name_q" in execution.error.value
    assert "lookup" in execution.error.traceback
    assert name in execution.error.traceback
    assert execution.stdout == "before\n"
    assert (await sandbox.run("1 + 1", language=language)).text == "2"

    syntax = await sandbox.run(
        pick(language, python="def broken(:\n    pass", javascript="function broken( {"),
        language=language,
    )
    assert syntax.error is not None
    if language == "python":  # Deno's kernel tells nothing but a failure of a cell it can't parse
        assert syntax.error.name == "SyntaxError"
    still = await sandbox.run("'still' + ' here'", language=language)
    assert still.text == quoted(language, "still here")


async def test_a_thrown_value_is_an_error_with_its_name_and_message(
    sandbox: Sandbox, language: Language
) -> None:
    execution = await sandbox.run(
        pick(
            language,
            python="class QuotaError(Exception):\n    pass\n\nraise QuotaError('over by 3')",
            javascript="class QuotaError extends Error {\n"
            "  constructor(message) { super(message); this.name = 'QuotaError' }\n}\n"
            "throw new QuotaError('over by 3')",
            typescript="class QuotaError extends Error {\n"
            "  constructor(message: string) { super(message); this.name = 'QuotaError' }\n}\n"
            "throw new QuotaError('over by 3')",
        ),
        language=language,
    )
    assert execution.error is not None
    assert execution.error.name == "QuotaError"
    assert execution.error.value == "over by 3"
    assert "QuotaError" in execution.error.traceback


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


_PNG = base64.b64encode(
    b"\x89PNG\r\n\x1a\n"
    + b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        for kind, body in (
            (b"IHDR", struct.pack(">IIBBBBB", 4, 3, 8, 2, 0, 0, 0)),
            (b"IDAT", zlib.compress(b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(3)))),
            (b"IEND", b""),
        )
    )
).decode()
"""A red 4x3 PNG, base64-encoded as a cell would have it."""
_SVG = "<svg xmlns='http://www.w3.org/2000/svg' width='8' height='8'><rect width='8'/></svg>"


async def test_rich_display_is_html_svg_and_png_bundles(
    sandbox: Sandbox, backend: Backend, language: Language
) -> None:
    if language == "python":
        backend.require("display")
    execution = await sandbox.run(
        pick(
            language,
            python="import base64\n"
            "from IPython.display import HTML, SVG, Image, display\n"
            "display(HTML('<b>bold</b>'))\n"
            f"display(SVG({_SVG!r}))\n"
            f"display(Image(data=base64.b64decode({_PNG!r})))\n"
            "'shown'",
            javascript="await Deno.jupyter.display(Deno.jupyter.html`<b>bold</b>`)\n"
            f"await Deno.jupyter.display(Deno.jupyter.svg`{_SVG}`)\n"
            f"const png = Uint8Array.from(atob('{_PNG}'), (c) => c.charCodeAt(0))\n"
            "await Deno.jupyter.display(Deno.jupyter.image(png))\n"
            "'shown'",
            typescript="await Deno.jupyter.display(Deno.jupyter.html`<b>bold</b>`)\n"
            f"await Deno.jupyter.display(Deno.jupyter.svg`{_SVG}`)\n"
            f"const png: Uint8Array = Uint8Array.from(atob('{_PNG}'), (c: string) => "
            "c.charCodeAt(0))\n"
            "await Deno.jupyter.display(Deno.jupyter.image(png))\n"
            "'shown'",
        ),
        language=language,
    )
    assert execution.ok, execution.error
    html, svg, png, last = execution.results
    assert html.html == "<b>bold</b>"
    assert str(svg.data["image/svg+xml"]).replace('"', "'") == _SVG  # IPython re-serializes
    assert _png_size(execution.images[0]) == (4, 3)
    assert not any(result.is_main_result for result in (html, svg, png))
    assert last.is_main_result
    assert last.text == quoted(language, "shown")


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
    sandbox: Sandbox, backend: Backend, language: Language
) -> None:
    backend.require("interrupt")
    kept = await sandbox.run(
        pick(language, python="kept = 41", javascript="let kept = 41"), language=language
    )
    assert kept.ok, kept.error
    execution = await sandbox.run(
        pick(language, python="while True:\n    pass", javascript="while (true) {}"),
        language=language,
        timeout=1,
    )
    assert execution.timed_out
    assert execution.error is not None
    assert execution.error.name == "TimeoutError"
    assert "timeout" in execution.error.value
    assert execution.duration_ms >= 1000
    assert not execution.restarted  # a plain loop takes the interrupt
    assert (await sandbox.run("kept + 1", language=language)).text == "42"
    if language != "python":
        return

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
    open_session: OpenSession, language: Language
) -> None:
    sandbox = await open_session(Limits(output_bytes=1000))
    execution = await sandbox.run(
        pick(
            language,
            python="import sys\n"
            "for i in range(3000):\n"
            "    print(f'line {i:05d}')\n"
            "print('only a little', file=sys.stderr)",
            javascript="for (let i = 0; i < 3000; i++) {\n"
            "  console.log(`line ${String(i).padStart(5, '0')}`)\n"
            "}\n"
            "console.error('only a little')",
        ),
        language=language,
    )
    whole = "".join(f"line {i:05d}\n" for i in range(3000))
    assert execution.ok, execution.error
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


async def test_execution_round_trips_through_json(sandbox: Sandbox, language: Language) -> None:
    executions = [
        await sandbox.run(
            pick(
                language,
                python="print('hi')\nopen('out.txt', 'w').write('data')\n{'a': [1, 2]}",
                # the semicolon keeps the object literal from being read as a call
                javascript="console.log('hi')\nDeno.writeTextFileSync('out.txt', 'data');\n"
                "({a: [1, 2]})",
            ),
            language=language,
        ),
        await sandbox.run(
            pick(
                language,
                python="raise ValueError('bad value')",
                javascript="throw new RangeError('bad value')",
            ),
            language=language,
        ),
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


async def test_cells_sent_at_once_run_one_at_a_time(sandbox: Sandbox, language: Language) -> None:
    slow, quick = await asyncio.gather(
        sandbox.run(
            pick(
                language,
                python="import time\ntime.sleep(0.5)\nprint('slow')",
                javascript="await new Promise((done) => setTimeout(done, 500))\n"
                "console.log('slow')",
            ),
            language=language,
        ),
        sandbox.run(
            pick(language, python="print('quick')", javascript="console.log('quick')"),
            language=language,
        ),
    )
    assert (slow.stdout, quick.stdout) == ("slow\n", "quick\n")
    assert slow.error is None
    assert quick.error is None
