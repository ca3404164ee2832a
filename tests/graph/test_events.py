"""The run's custom stream speaks the typed events of `runpad.events`, verdicts included,
and the live display is driven by them alone."""

from __future__ import annotations

import io
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from runpad import events
from runpad.context import Context
from runpad.display import RunDisplay
from runpad.runner import arun
from tests.fixtures.scripted import ROUTE_CODE, CountingManager, Script, code

pytestmark = pytest.mark.sandbox

TWO_STEPS = "1. Divide and print it | check: a number\n2. Double it and print it | check: a number"
_EVENT_TYPES: dict[str, type[Any]] = {
    literal: event_type
    for event_type in typing.get_args(events.RunEvent)
    for literal in typing.get_args(typing.get_type_hints(event_type)["type"])
} | {"approval": events.ApprovalRequest}


def _conforms(event: Mapping[str, Any]) -> None:
    """`event` has exactly the keys its TypedDict names."""
    event_type = _EVENT_TYPES[event["type"]]
    assert set(event) == set(typing.get_type_hints(event_type)), event


async def _run(
    task: str, model: str, sandboxes: CountingManager, tmp_path: Path
) -> tuple[list[tuple[str, Any]], str]:
    seen: list[tuple[str, Any]] = []
    log = io.StringIO()
    display = RunDisplay(Console(file=log, width=200), live=False)

    def on_event(mode: str, chunk: Any) -> None:
        seen.append((mode, chunk))
        display.handle(mode, chunk)

    with display:
        async with Context(model=model, sandboxes=sandboxes, run_dir=str(tmp_path)) as context:
            await arun(task, context=context, on_event=on_event)
    return seen, log.getvalue()


async def test_a_repair_then_two_steps_stream_their_verdicts(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE],
        planner=[TWO_STEPS],
        coder=[code("x = 1 / 0"), code("x = 10 / 4\nprint(x)"), code("print(x * 2)")],
        reviewer=["VERDICT: next", "VERDICT: done\nANSWER: 5.0"],
    )
    seen, log = await _run("Divide 10 by 4, then double it", model, sandboxes, tmp_path)

    custom = [chunk for mode, chunk in seen if mode == "custom"]
    for event in custom:
        _conforms(event)
    verdicts = [(e["step"], e["cell"], e["decision"]) for e in custom if e["type"] == "verdict"]
    assert verdicts == [(1, 1, "repair"), (1, 2, "next_step"), (2, 3, "done")]
    repair = next(e for e in custom if e["type"] == "verdict")
    assert "ZeroDivisionError" in repair["notes"]
    assert [e["index"] for e in custom if e["type"] == "cell"] == [1, 2, 3]
    # The display tells the same story, from the events alone.
    assert "reviewer: repair: ZeroDivisionError" in log
    assert "reviewer: step 1 done" in log
    assert "reviewer: done: the output answers the task" in log


async def test_a_step_that_fails_for_good_streams_replan_then_stop(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    failing = code("import missing_module_xyz")
    model = script(
        router=[ROUTE_CODE],
        planner=["1. Import it | check: no error", "1. Import it again | check: no error"],
        coder=[failing, failing, failing, failing],
    )
    seen, log = await _run("Use a module that does not exist", model, sandboxes, tmp_path)

    decisions = [c["decision"] for m, c in seen if m == "custom" and c["type"] == "verdict"]
    # The new plan's first cell repeats the failure: no repair is tried again.
    assert decisions == ["repair", "replan", "stop"]
    assert "reviewer: new plan: The same failure happened twice" in log


async def test_the_approval_interrupt_carries_an_approval_request(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(router=[ROUTE_CODE], planner=["1. Print | check: printed"], coder=[code("1")])
    async with Context(
        model=model, sandboxes=sandboxes, run_dir=str(tmp_path), approve=True
    ) as context:
        result = await arun("Print one", context=context)

    assert result.status == "awaiting_approval"
    assert result.pending_approval is not None
    _conforms(result.pending_approval)
    assert result.pending_approval["code"] == "1"
    assert result.pending_approval["step"] == 1
