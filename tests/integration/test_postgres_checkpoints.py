"""Checkpoints in a real PostgreSQL server: a run, its approval pause and its resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from runpad.context import Context
from runpad.errors import ConfigurationError
from runpad.runner import aresume, arun
from tests.fixtures.scripted import CountingManager, Script, code

pytestmark = [pytest.mark.integration, pytest.mark.sandbox]


async def test_run_pause_and_resume_with_postgres_checkpoints(
    postgres_url: str, script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=["ROUTE: code"],
        planner=["1. Compute | check: printed"],
        coder=[code("print(2 + 3)")],
        reviewer=["VERDICT: done\nANSWER: 5"],
    )
    context = Context(model=model, sandboxes=sandboxes, run_dir=str(tmp_path), approve=True)
    paused = await arun("2 + 3", context=context, checkpointer=postgres_url)
    assert paused.status == "awaiting_approval"

    # A new Context (as a new process would have) with only the thread id and the URL.
    fresh = Context(model=model, sandboxes=sandboxes, run_dir=str(tmp_path), approve=True)
    result = await aresume(
        paused.thread_id, decision="approve", context=fresh, checkpointer=postgres_url
    )
    assert result.status == "answered"
    assert result.answer == "5"
    assert result.cells[0]["stdout"] == "5\n"

    import psycopg

    async with await psycopg.AsyncConnection.connect(postgres_url) as connection:
        cursor = await connection.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = %s", (paused.thread_id,)
        )
        row = await cursor.fetchone()
    assert row is not None
    assert row[0] > 5  # one checkpoint per step, on the server


async def test_unreachable_postgres_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConfigurationError, match="Could not reach the PostgreSQL"):
        await arun(
            "x",
            model="local",
            run_dir=str(tmp_path),
            checkpointer=f"postgresql://postgres@127.0.0.1:{port}/postgres?connect_timeout=2",
        )
