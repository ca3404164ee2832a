"""The sync/async bridge: a fresh loop per piece of work, or one loop that outlives calls."""

from __future__ import annotations

import asyncio
import threading

import pytest

from runpad.bridge import EventLoopThread, run_sync, submit_to


async def _where() -> tuple[int, asyncio.AbstractEventLoop]:
    await asyncio.sleep(0)
    return threading.get_ident(), asyncio.get_running_loop()


def test_run_sync_runs_on_a_fresh_loop_in_this_thread() -> None:
    thread, loop = run_sync(_where())
    assert thread == threading.get_ident()
    assert loop.is_closed()  # closed when the work is done


async def test_run_sync_inside_a_running_loop_uses_a_worker_thread() -> None:
    thread, loop = run_sync(_where())  # would deadlock if it blocked this loop on itself
    assert thread != threading.get_ident()
    assert loop is not asyncio.get_running_loop()


def test_an_event_loop_thread_keeps_one_loop_across_calls() -> None:
    portal = EventLoopThread(name="test-bridge")
    try:
        first = portal.call(_where())
        second = submit_to(portal.loop, _where()).result()
        assert first == second
        assert first[0] != threading.get_ident()
        assert first[1] is portal.loop
    finally:
        portal.stop()
    assert not portal.is_running
    with pytest.raises(RuntimeError, match="stopped"):
        portal.call(_where())
    with pytest.raises(RuntimeError, match="not running"):
        submit_to(portal.loop, _where())
