"""The run Context checks its settings when it is made and closes what it opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from runpad.context import Context
from runpad.errors import ConfigurationError
from runpad.sandbox.manager import SandboxManager


def test_a_misspelt_sandbox_fails_when_the_context_is_made() -> None:
    with pytest.raises(ConfigurationError, match=r"'dokcer'.*local, unsafe-local, docker, e2b"):
        Context(sandbox="dokcer")


def test_a_bad_sample_count_fails_when_the_context_is_made() -> None:
    with pytest.raises(ConfigurationError, match="samples"):
        Context(samples=0)


async def test_aclose_closes_the_sessions_and_engines_it_opened(tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
    async with Context(sandbox="fake", databases={"shop": f"sqlite:///{database}"}) as context:
        sandbox, fresh = await context.sandbox_manager.session("thread")
        engine = context.database("shop")
        assert fresh
        assert sandbox.is_running
        assert engine.run("SELECT COUNT(*) FROM t").rows == [(0,)]

    assert not sandbox.is_running
    assert context.database("shop") is not engine  # closed, so a later run opens a new one
    await context.aclose()  # twice is harmless


async def test_a_manager_passed_in_belongs_to_the_caller() -> None:
    manager = SandboxManager("fake")
    try:
        async with Context(sandbox="fake", sandboxes=manager) as context:
            sandbox, _ = await context.sandbox_manager.session("thread")
        assert sandbox.is_running  # the caller closes its own manager
    finally:
        await manager.aclose()
    assert not sandbox.is_running
