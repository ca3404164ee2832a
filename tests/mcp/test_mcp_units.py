"""The MCP server's parts that need no client: sessions, URIs, progress text, HTTP guard.

Sessions run on the `fake` sandbox backend (real work dirs, Python in this process), so
the bound, the idle expiry and the files folder are checked in milliseconds; the real
server is driven end to end in tests/integration/test_mcp.py.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from starlette.datastructures import Headers
from typer.testing import CliRunner

from runpad.errors import ConfigurationError
from runpad.events import Decision, Verdict
from runpad.mcp.analysis import ProgressNarrator
from runpad.mcp.cli import mcp_app
from runpad.mcp.content import file_uri, parse_uri, run_uri, table_csv, table_uri
from runpad.mcp.sessions import McpSession, SessionLimitError, SessionRegistry
from runpad.mcp.settings import McpSettings, is_loopback
from runpad.mcp.transports import HttpGuard
from runpad.sandbox.factory import open_sandbox
from runpad.sandbox.manager import SandboxManager


def fake_registry(
    max_sessions: int = 2, idle: float = 60.0, files_dir: Path | None = None
) -> SessionRegistry:
    manager = SandboxManager("fake", factory=lambda: open_sandbox("fake"))
    return SessionRegistry(
        manager, max_sessions=max_sessions, idle_seconds=idle, files_dir=files_dir
    )


async def test_one_sandbox_per_session_and_a_clear_error_over_the_bound() -> None:
    registry = fake_registry(max_sessions=2)
    try:
        first, _ = await registry.sandbox("a")
        again, _ = await registry.sandbox("a")
        assert first is again  # one sandbox per MCP session
        await registry.sandbox("b")
        with pytest.raises(SessionLimitError, match="--max-sessions"):
            await registry.sandbox("c")
        with pytest.raises(SessionLimitError):
            async with registry.analysis_slot():
                pass
        await registry.end("a")  # a client disconnected: its slot is free again
        await registry.sandbox("c")
        assert registry.live == 2
    finally:
        await registry.aclose()


async def test_concurrent_first_calls_of_a_session_share_one_start() -> None:
    registry = fake_registry(max_sessions=1)
    try:
        (first, _), (second, _) = await asyncio.gather(registry.sandbox("a"), registry.sandbox("a"))
        assert first is second
        assert registry.live == 1
    finally:
        await registry.aclose()


async def test_idle_sessions_are_closed_and_the_next_call_is_told() -> None:
    registry = fake_registry(idle=0.05)
    try:
        sandbox, note = await registry.sandbox("a")
        assert note is None
        await sandbox.run("kept = 1")
        async with registry.use("b"):
            await registry.sandbox("b")
            await asyncio.sleep(0.1)
            assert await registry.reap() == ["a"]  # b is busy: never closed under a call
        assert not registry.has_sandbox("a")
        _, note = await registry.sandbox("a")
        assert note is not None
        assert "idle" in note
    finally:
        await registry.aclose()


async def test_files_folder_is_copied_into_each_new_session(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("x\n1\n")
    registry = fake_registry(files_dir=tmp_path)
    try:
        sandbox, _ = await registry.sandbox("a")
        assert await sandbox.download("data/a.csv") == b"x\n1\n"
    finally:
        await registry.aclose()


def test_tables_are_bounded_and_keep_their_names() -> None:
    session = McpSession("a")
    names = [session.add_table(f"n\n{i}\n") for i in range(60)]
    assert names[0] == "table-1.csv"
    assert names[-1] == "table-60.csv"
    assert len(session.tables) == 50
    assert "table-1.csv" not in session.tables


def test_uris_round_trip_and_refuse_strangers() -> None:
    parsed = parse_uri(file_uri("out dir/plot #1.png"))
    assert parsed is not None
    assert (parsed.kind, parsed.name) == ("file", "out dir/plot #1.png")
    parsed = parse_uri(table_uri("table-3.csv"))
    assert parsed is not None
    assert (parsed.kind, parsed.name) == ("table", "table-3.csv")
    parsed = parse_uri(run_uri("20260101-a1", "report.md"))
    assert parsed is not None
    assert (parsed.kind, parsed.name, parsed.file) == ("run", "20260101-a1", "report.md")
    for stranger in (
        "file:///etc/passwd",
        "runpad://runs/x/run.json",
        "runpad://runs/x/../../etc",
        "runpad://session/files/",
    ):
        assert parse_uri(stranger) is None, stranger


def test_table_csv_from_the_kernels_table_data() -> None:
    table = {
        "schema": {"fields": [{"name": "index"}, {"name": "city"}, {"name": "n"}]},
        "data": [{"index": 0, "city": "Oslo", "n": 3}, {"index": 1, "city": "Rome", "n": None}],
    }
    assert table_csv(table) == "index,city,n\n0,Oslo,3\n1,Rome,\n"


def verdict(step: int, cell: int, decision: Decision, notes: str | None = None) -> Verdict:
    return Verdict(type="verdict", step=step, cell=cell, decision=decision, notes=notes)


def test_progress_tells_plan_cells_and_verdicts() -> None:
    narrator = ProgressNarrator()
    plan = [
        {"description": "Load", "success_criterion": "rows", "kind": "python"},
        {"description": "Sum", "success_criterion": "a number", "kind": "python"},
    ]
    cell = {
        "index": 1,
        "stdout": "3 rows\n",
        "result": None,
        "error": None,
        "timed_out": False,
        "duration_ms": 5.0,
    }
    failed = {**cell, "index": 2, "error": {"name": "KeyError", "value": "'n'", "traceback": ""}}
    events = [
        ("tasks", {"name": "planner", "input": {}}),
        ("updates", {"planner": {"plan": plan}}),
        ("custom", {"type": "cell", "index": 1, "language": "python", "code": "\nimport x\n"}),
        ("custom", {"type": "stdout", "cell": 1, "text": "3 rows\n"}),
        ("updates", {"executor": {"cells": [cell]}}),
        ("custom", verdict(1, 1, "next_step")),
        ("updates", {"reviewer": {"step_index": 1, "attempt": 0}}),
        ("custom", {"type": "cell", "index": 2, "language": "python", "code": "df.n.sum()"}),
        ("updates", {"executor": {"cells": [failed]}}),
        ("custom", verdict(2, 2, "repair", "use the column 'amount'")),
        ("custom", verdict(2, 3, "done")),
    ]
    messages = [line for mode, chunk in events for line in narrator.message(mode, chunk)]
    assert messages == [
        "planning",
        "plan: 1. Load; 2. Sum",
        "cell 1 (python, step 1): import x",
        "cell 1: ok: 3 rows",
        "reviewer: step 1 done",
        "cell 2 (python, step 2): df.n.sum()",
        "cell 2: KeyError: 'n'",
        "reviewer: repair: use the column 'amount'",
        "reviewer: done: the output answers the task",
    ]


def test_http_off_loopback_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNPAD_MCP_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="--token"):
        McpSettings(host="0.0.0.0").check_http()
    McpSettings(host="0.0.0.0", token="t").check_http()
    monkeypatch.setenv("RUNPAD_MCP_TOKEN", "from-env")
    McpSettings(host="192.0.2.1").check_http()
    McpSettings(host="127.0.0.1").check_http()
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("example.com")


def test_http_guard_rules() -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("not reached in these checks")

    guard = HttpGuard(app, token="t0k", loopback=True, allowed_origins=("https://app.example",))
    good = {"host": "127.0.0.1:8765", "authorization": "Bearer t0k"}
    assert guard._refusal(Headers(good)) is None
    refused = {
        "evil origin": ({**good, "origin": "http://evil.example"}, 403),
        "rebound host": ({**good, "host": "evil.example:8765"}, 421),
        "no token": ({"host": "localhost:8765"}, 401),
        "wrong token": ({**good, "authorization": "Bearer t0k2"}, 401),
        "wrong scheme": ({**good, "authorization": "Basic t0k"}, 401),
    }
    for case, (headers, status) in refused.items():
        response = guard._refusal(Headers(headers))
        assert response is not None, case
        assert response.status_code == status, case
    for origin in ("http://localhost:3000", "http://[::1]:1", "https://app.example"):
        assert guard._refusal(Headers({**good, "origin": origin})) is None, origin
    assert not guard.origin_allowed("http://localhost.evil.example")
    assert not guard.origin_allowed("null")


def test_without_the_sdk_the_command_names_the_extra(
    require_sandbox: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("runpad.mcp.server", "runpad.mcp.transports"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, "mcp", None)  # `import mcp` now raises ImportError
    result = CliRunner().invoke(mcp_app, ["--sandbox", "unsafe-local"])
    assert result.exit_code == 2
    assert "pip install 'runpad[mcp]'" in result.output
