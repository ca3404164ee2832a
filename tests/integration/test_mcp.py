"""`runpad mcp` driven by the MCP SDK's own client, as real clients drive it.

Over stdio the client spawns `python -m runpad mcp` as a subprocess, as a desktop client
does; over streamable HTTP a real server listens on 127.0.0.1 (port 0: the server says
which port it got). Every request goes to loopback.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    UNSUPPORTED_PROTOCOL_VERSION,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_MODERN_VERSION

from runpad.mcp.server import SESSION_LIMIT
from tests.fixtures.scripted import code, write_script

pytestmark = [pytest.mark.integration, pytest.mark.sandbox, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def stdio_client(*options: str) -> Client:
    """A client that spawns its own server over stdio, as Claude Desktop does."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "runpad", "mcp", *options], env=ENV, cwd=str(REPO)
    )
    return Client(params)


class HttpServer:
    """`runpad mcp --http` in a subprocess on 127.0.0.1, its stderr collected."""

    def __init__(self, *options: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runpad", "mcp", "--http", "--port", "0", *options],
            cwd=str(REPO),
            env=ENV,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.url = ""
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if found := re.search(r"listening on (http://\S+)", line):
                self.url = found.group(1)
                break
        if not self.url:
            self.process.wait(30)
            raise AssertionError("the server did not start:\n" + "".join(self.lines))
        # Keep draining stderr so that the server never blocks on a full pipe.
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()

    def _read_rest(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    @contextlib.asynccontextmanager
    async def client(self, token: str | None = None) -> AsyncIterator[Client]:
        """A connected client (a new MCP session); a token goes in as a bearer header."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        timeout = httpx2.Timeout(30, read=300)
        async with (
            httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
            Client(streamable_http_client(self.url, http_client=http)) as client,
        ):
            yield client

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._drain.join(10)
        if self.process.stderr is not None:
            self.process.stderr.close()


@contextlib.contextmanager
def http_server(*options: str) -> Iterator[HttpServer]:
    server = HttpServer(*options)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "shop.db"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL)")
        connection.executemany("INSERT INTO orders VALUES (?, ?)", [(1, 9.5), (2, 20.0)])
        connection.commit()
    return path


@pytest.fixture(scope="module")
def shared_http(
    require_sandbox: None, shop_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpServer]:
    """One HTTP server for the tests that only need sessions of their own on it."""
    out = tmp_path_factory.mktemp("http-runs")
    with http_server("--db", f"shop=sqlite:///{shop_db}", "--out", str(out)) as server:
        yield server


# -- one session: state, images, errors -----------------------------------------------------


async def test_stdio_session_keeps_state_and_reports_errors_as_tool_errors(
    require_sandbox: None, tmp_path: Path
) -> None:
    async with stdio_client("--out", str(tmp_path / "runs"), "--timeout", "20") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {
            "run_python",
            "run_sql",
            "render_dot",
            "list_files",
            "read_file",
            "write_file",
            "analyze",
            "reset_session",
        }
        assert tools["run_python"].input_schema["required"] == ["code"]

        assert not (await client.call_tool("run_python", {"code": "total = 40"})).is_error
        result = await client.call_tool("run_python", {"code": "total + 2"})
        assert not result.is_error
        assert "42" in text_of(result)

        failed = await client.call_tool("run_python", {"code": "1 / 0"})
        assert failed.is_error
        assert "ZeroDivisionError" in text_of(failed)
        assert "Traceback" in text_of(failed)

        slow = await client.call_tool(
            "run_python", {"code": "import time\ntime.sleep(60)", "timeout": 1}
        )
        assert slow.is_error
        assert "time limit" in text_of(slow)
        after_timeout = await client.call_tool("run_python", {"code": "total + 1"})
        assert not after_timeout.is_error
        assert "41" in text_of(after_timeout)

        crashed = await client.call_tool(
            "run_python", {"code": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"}
        )
        assert crashed.is_error
        assert "restarted" in text_of(crashed)
        after_crash = await client.call_tool("run_python", {"code": "print(6 * 7)"})
        assert not after_crash.is_error
        assert "42" in text_of(after_crash)

        reset = await client.call_tool("reset_session", {})
        assert not reset.is_error
        gone = await client.call_tool("run_python", {"code": "total"})
        assert gone.is_error
        assert "NameError" in text_of(gone)


async def test_stdio_plot_table_and_diagram_come_back_as_content(
    require_sandbox: None, tmp_path: Path
) -> None:
    async with stdio_client("--out", str(tmp_path / "runs")) as client:
        plot = await client.call_tool(
            "run_python",
            {
                "code": "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\n"
                "plt.savefig('line.png')\nplt.show()"
            },
        )
        assert not plot.is_error, text_of(plot)
        images = [block for block in plot.content if isinstance(block, ImageContent)]
        assert [image.mime_type for image in images] == ["image/png"]
        assert base64.b64decode(images[0].data).startswith(PNG_MAGIC)
        written = [block.uri for block in plot.content if isinstance(block, ResourceLink)]
        assert written == ["runpad://session/files/line.png"]
        assert "line.png" in text_of(plot)  # the files written, in the text too

        frame = await client.call_tool(
            "run_python",
            {"code": "import pandas as pd\npd.DataFrame({'city': ['Oslo', 'Rome'], 'n': [3, 5]})"},
        )
        assert "Oslo" in text_of(frame)  # the table as text
        link = next(block for block in frame.content if isinstance(block, ResourceLink))
        assert link.mime_type == "text/csv"
        csv = (await client.read_resource(link.uri)).contents[0]
        assert isinstance(csv, TextResourceContents)
        assert csv.text.splitlines()[0].endswith("city,n")
        assert "Rome,5" in csv.text

        diagram = await client.call_tool("render_dot", {"source": "digraph { a -> b }"})
        assert not diagram.is_error, text_of(diagram)
        png = next(block for block in diagram.content if isinstance(block, ImageContent))
        assert base64.b64decode(png.data).startswith(PNG_MAGIC)
        svg = next(block for block in diagram.content if isinstance(block, EmbeddedResource))
        assert svg.resource.mime_type == "image/svg+xml"
        assert isinstance(svg.resource, TextResourceContents)
        assert "<svg" in svg.resource.text
        broken = await client.call_tool("render_dot", {"source": "digraph { a -> "})
        assert broken.is_error
        assert "syntax" in text_of(broken).lower()

        listed = {resource.uri for resource in (await client.list_resources()).resources}
        assert {
            "runpad://session/files/line.png",
            "runpad://session/files/diagram.svg",
            link.uri,
        } <= listed


async def test_malformed_arguments_get_jsonrpc_errors(
    require_sandbox: None, tmp_path: Path
) -> None:
    async with stdio_client("--out", str(tmp_path / "runs")) as client:
        for name, arguments, problem in [
            ("run_python", {}, "code: Field required"),
            ("run_python", {"code": "1", "timeout": "soon"}, "timeout"),
            ("run_python", {"code": "1", "cwd": "/"}, "cwd: Extra inputs are not permitted"),
            ("write_file", {"path": "a", "content": "x", "encoding": "utf-16"}, "encoding"),
            ("analyze", {}, "give a `task`"),
            ("no_such_tool", {}, "Unknown tool"),
        ]:
            with pytest.raises(MCPError) as caught:
                await client.call_tool(name, arguments)
            assert caught.value.code == INVALID_PARAMS, (name, caught.value)
            assert problem in caught.value.message, (name, caught.value.message)
        # The session is fine afterwards.
        assert "2" in text_of(await client.call_tool("run_python", {"code": "1 + 1"}))


async def test_files_folder_is_copied_and_files_round_trip(
    require_sandbox: None, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "sales.csv").write_text("region,amount\nnorth,10\nsouth,32\n")
    options = ("--files", str(shared), "--max-file-bytes", "1000", "--out", str(tmp_path / "r"))
    async with stdio_client(*options) as client:
        listing = text_of(await client.call_tool("list_files", {}))
        assert "sales.csv" in listing
        total = await client.call_tool(
            "run_python",
            {
                "code": "import pandas as pd\ns = pd.read_csv('sales.csv')\n"
                "s.to_csv('sales.csv')  # the copy, not the original\nprint(s.amount.sum())"
            },
        )
        assert "42" in text_of(total), text_of(total)
        assert (shared / "sales.csv").read_text() == "region,amount\nnorth,10\nsouth,32\n"

        wrote = await client.call_tool("write_file", {"path": "notes/a.txt", "content": "héllo"})
        assert not wrote.is_error, text_of(wrote)
        read = await client.call_tool("read_file", {"path": "notes/a.txt"})
        assert text_of(read) == "héllo"
        binary = base64.b64encode(bytes(range(256))).decode()
        await client.call_tool(
            "write_file", {"path": "raw.bin", "content": binary, "encoding": "base64"}
        )
        size = await client.call_tool("run_python", {"code": "len(open('raw.bin','rb').read())"})
        assert "256" in text_of(size)

        too_big = await client.call_tool("write_file", {"path": "big.txt", "content": "x" * 2000})
        assert too_big.is_error
        assert "at most" in text_of(too_big)
        await client.call_tool("run_python", {"code": "open('big.txt','w').write('y' * 5000)"})
        over = await client.call_tool("read_file", {"path": "big.txt"})
        assert over.is_error
        assert "more than read_file returns" in text_of(over)
        missing = await client.call_tool("read_file", {"path": "nope.txt"})
        assert missing.is_error
        escape = await client.call_tool("read_file", {"path": "../../etc/passwd"})
        assert escape.is_error


async def test_idle_session_is_closed_and_the_next_call_says_so(
    require_sandbox: None, tmp_path: Path
) -> None:
    async with stdio_client("--idle-expiry", "1", "--out", str(tmp_path / "runs")) as client:
        await client.call_tool("run_python", {"code": "kept = 1"})
        await asyncio.sleep(3)
        after = await client.call_tool("run_python", {"code": "kept"})
        assert after.is_error
        assert "NameError" in text_of(after)
        assert "idle" in text_of(after)


# -- sessions over HTTP -------------------------------------------------------------------------


async def test_http_sessions_keep_state_and_are_isolated(shared_http: HttpServer) -> None:
    async with shared_http.client() as first, shared_http.client() as second:
        await asyncio.gather(
            first.call_tool("run_python", {"code": "owner = 'first'"}),
            second.call_tool("run_python", {"code": "owner = 'second'"}),
        )
        mine, theirs = await asyncio.gather(
            first.call_tool("run_python", {"code": "print(owner)"}),
            second.call_tool("run_python", {"code": "print(owner)"}),
        )
        assert "first" in text_of(mine)
        assert "second" not in text_of(mine)
        assert "second" in text_of(theirs)
        assert "first" not in text_of(theirs)

        await first.call_tool("write_file", {"path": "private.txt", "content": "first's"})
        peek = await second.call_tool("read_file", {"path": "private.txt"})
        assert peek.is_error
        first_uris = {r.uri for r in (await first.list_resources()).resources}
        second_uris = {r.uri for r in (await second.list_resources()).resources}
        assert "runpad://session/files/private.txt" in first_uris
        assert "runpad://session/files/private.txt" not in second_uris
        with pytest.raises(MCPError):
            await second.read_resource("runpad://session/files/private.txt")


async def test_http_stateless_protocol_is_refused_with_the_handshake_versions(
    shared_http: HttpServer,
) -> None:
    async with shared_http.client() as negotiated:
        assert negotiated.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS
    async with (
        httpx2.AsyncClient(timeout=30) as http,
        Client(
            streamable_http_client(shared_http.url, http_client=http), mode=LATEST_MODERN_VERSION
        ) as pinned,
    ):
        with pytest.raises(MCPError) as caught:
            await pinned.call_tool("run_python", {"code": "1"})
        assert caught.value.code == UNSUPPORTED_PROTOCOL_VERSION
        assert "sandbox session per client" in caught.value.message


async def test_http_sql_is_read_only(shared_http: HttpServer, shop_db: Path) -> None:
    async with shared_http.client() as client:
        rows = await client.call_tool("run_sql", {"query": "SELECT SUM(amount) AS s FROM orders"})
        assert not rows.is_error
        assert "29.5" in text_of(rows)
        link = next(block for block in rows.content if isinstance(block, ResourceLink))
        csv = (await client.read_resource(link.uri)).contents[0]
        assert isinstance(csv, TextResourceContents)
        assert csv.text.strip() == "s\n29.5"

        for statement in (
            "DELETE FROM orders",
            "DROP TABLE orders",
            "SELECT 1; DELETE FROM orders",
        ):
            refused = await client.call_tool("run_sql", {"query": statement})
            assert refused.is_error, statement
            assert "--allow-writes" in text_of(refused)
        unknown = await client.call_tool("run_sql", {"query": "SELECT 1", "database": "nope"})
        assert unknown.is_error
        assert "shop" in text_of(unknown)
    with contextlib.closing(sqlite3.connect(shop_db)) as connection:
        assert connection.execute("SELECT COUNT(*) FROM orders").fetchone() == (2,)


async def test_http_origin_and_host_rules(shared_http: HttpServer) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    accept = {"Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient(timeout=30) as http:
        evil = await http.post(
            shared_http.url, json=initialize, headers={**accept, "Origin": "http://evil.example"}
        )
        assert evil.status_code == 403
        assert "--allow-origin" in evil.text
        rebound = await http.post(
            shared_http.url,
            json=initialize,
            headers={**accept, "Host": f"evil.example:{shared_http.port}"},
        )
        assert rebound.status_code == 421
        local = await http.post(
            shared_http.url,
            json=initialize,
            headers={**accept, "Origin": f"http://localhost:{shared_http.port}"},
        )
        assert local.status_code == 200, local.text
        session = local.headers["mcp-session-id"]
        ended = await http.delete(shared_http.url, headers={**accept, "mcp-session-id": session})
        assert ended.status_code in (200, 204)


async def test_http_token_is_required_when_set(require_sandbox: None, tmp_path: Path) -> None:
    with http_server("--token", "s3cret-token", "--out", str(tmp_path)) as server:
        async with httpx2.AsyncClient(timeout=30) as http:
            anonymous = await http.post(
                server.url, json={}, headers={"Content-Type": "application/json"}
            )
            assert anonymous.status_code == 401
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
            wrong = await http.post(server.url, json={}, headers={"Authorization": "Bearer guess"})
            assert wrong.status_code == 401
        with pytest.raises(Exception):  # noqa: B017,PT011  (the SDK's error for a 401)
            async with server.client() as client:
                await client.list_tools()
        async with server.client(token="s3cret-token") as client:
            result = await client.call_tool("run_python", {"code": "2 ** 10"})
            assert "1024" in text_of(result)


def test_http_off_loopback_refuses_to_start_without_a_token(require_sandbox: None) -> None:
    environment = {key: value for key, value in ENV.items() if key != "RUNPAD_MCP_TOKEN"}
    refused = subprocess.run(
        [sys.executable, "-m", "runpad", "mcp", "--http", "--host", "0.0.0.0", "--port", "0"],
        cwd=str(REPO),
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2
    assert "--token" in refused.stderr
    assert "RUNPAD_MCP_TOKEN" in refused.stderr


async def test_http_session_bound_is_a_clear_error(require_sandbox: None, tmp_path: Path) -> None:
    with http_server("--max-sessions", "1", "--out", str(tmp_path)) as server:
        async with server.client() as first, server.client() as second:
            assert "1" in text_of(await first.call_tool("run_python", {"code": "1"}))
            with pytest.raises(MCPError) as caught:
                await asyncio.wait_for(second.call_tool("run_python", {"code": "1"}), 60)
            assert caught.value.code == SESSION_LIMIT
            assert "--max-sessions" in caught.value.message
        # The first client left (DELETE): its sandbox is closed and the slot is free.
        async with server.client() as third:
            assert "3" in text_of(await third.call_tool("run_python", {"code": "1 + 2"}))


# -- the analysis tool ---------------------------------------------------------------------------


def three_step_script(path: Path, *, slow_second: bool = False) -> str:
    second = "import time\ntime.sleep(4)\ny = 2\nprint(y)" if slow_second else "y = 2\nprint(y)"
    return write_script(
        path,
        router=["ROUTE: code"],
        planner=["1. Set x | check: printed\n2. Set y | check: printed\n3. Add | check: printed"],
        coder=[code("x = 20\nprint(x)"), code(second), code("print(x + y)")],
        reviewer=["VERDICT: next", "VERDICT: next", "VERDICT: done\nANSWER: 22"],
    )


class Progress:
    def __init__(self) -> None:
        self.messages: list[str] = []
        self.values: list[float] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.values.append(progress)
        self.messages.append(message or "")


async def test_analyze_streams_progress_and_answers(require_sandbox: None, tmp_path: Path) -> None:
    model = three_step_script(tmp_path / "script.jsonl")
    out = tmp_path / "runs"
    async with stdio_client("--model", model, "--out", str(out)) as client:
        progress = Progress()
        result = await client.call_tool(
            "analyze", {"task": "Add x and y", "thread_id": "sum-1"}, progress_callback=progress
        )
        assert not result.is_error, text_of(result)
        assert "22" in text_of(result)
        assert result.structured_content is not None
        assert result.structured_content["status"] == "answered"
        assert result.structured_content["answer"] == "22"

        messages = progress.messages
        assert progress.values == sorted(progress.values)  # progress only goes forward
        assert any(m.startswith("plan: 1. Set x") for m in messages), messages
        assert [m.split(" (")[0] for m in messages if re.match(r"cell \d \(", m)] == [
            "cell 1",
            "cell 2",
            "cell 3",
        ]
        assert "cell 3: ok: 22" in messages
        assert "reviewer: step 1 done" in messages
        assert "reviewer: done: the output answers the task" in messages

        report = next(block for block in result.content if isinstance(block, EmbeddedResource))
        assert report.resource.uri == "runpad://runs/sum-1/report.md"
        listed = {resource.uri for resource in (await client.list_resources()).resources}
        assert "runpad://runs/sum-1/notebook.ipynb" in listed
        notebook = (await client.read_resource("runpad://runs/sum-1/notebook.ipynb")).contents[0]
        assert isinstance(notebook, TextResourceContents)
        assert "x = 20" in notebook.text

        again = await client.call_tool("analyze", {"thread_id": "sum-1"})
        assert "finished earlier" in text_of(again)
        assert "22" in text_of(again)
    assert (out / "sum-1" / "report.md").is_file()


async def test_analyze_resumes_after_a_server_restart(
    require_sandbox: None, tmp_path: Path
) -> None:
    model = three_step_script(tmp_path / "script.jsonl", slow_second=True)
    options = ("--model", model, "--out", str(tmp_path / "runs"))
    first = HttpServer(*options)
    try:
        cell_two_started = asyncio.Event()

        async def watch(progress: float, total: float | None, message: str | None) -> None:
            if (message or "").startswith("cell 2 ("):
                cell_two_started.set()

        async with first.client() as client:
            call = asyncio.create_task(
                client.call_tool(
                    "analyze", {"task": "Add x and y", "thread_id": "kept"}, progress_callback=watch
                )
            )
            await asyncio.wait_for(cell_two_started.wait(), 120)
            first.stop(signal.SIGKILL)  # the server dies in the middle of cell 2
            with pytest.raises(Exception):  # noqa: B017,PT011  (the connection is gone)
                await asyncio.wait_for(call, 60)
    finally:
        first.stop(signal.SIGKILL)

    with http_server(*options) as second:
        async with second.client() as client:
            progress = Progress()
            result = await client.call_tool(
                "analyze", {"thread_id": "kept"}, progress_callback=progress
            )
            assert not result.is_error, text_of(result)
            assert result.structured_content is not None
            assert result.structured_content["answer"] == "22"
            assert result.structured_content["cells"] == 3
            assert any("continuing analysis kept" in m for m in progress.messages)
            # Cell 1's variables come back from its snapshot (the default), not by running it.
            restored = "restored from the snapshot after cell 1"
            assert any(restored in m for m in progress.messages), progress.messages
            assert not any(m.startswith("cell 1 (") for m in progress.messages)  # not redone
