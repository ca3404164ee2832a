"""Whole runs through the analysis graph: scripted models, the real local sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest

from runpad.context import Context, RunLimits
from runpad.runner import aresume, arun
from runpad.state import ApprovalDecision
from tests.fixtures.scripted import ONE_STEP, ROUTE_CODE, CountingManager, Script, code, run_task

pytestmark = pytest.mark.sandbox


async def test_first_try_success(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE],
        planner=[ONE_STEP],
        coder=[code("value = sum(range(1, 101))\nprint(value)")],
        reviewer=["VERDICT: done\nANSWER: 5050"],
    )
    result = await run_task("Sum 1..100", model, sandboxes, tmp_path)
    assert result.status == "answered"
    assert result.answer == "5050"
    assert [cell["stdout"] for cell in result.cells] == ["5050\n"]
    assert result.plan[0]["success_criterion"] == "the number is printed"
    assert sandboxes.started == 1


async def test_error_is_repaired(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE],
        planner=[ONE_STEP],
        coder=[code("print(1 / 0)"), code("print(10 / 4)")],
        reviewer=["VERDICT: done\nANSWER: 2.5"],
    )
    result = await run_task("Divide 10 by 4", model, sandboxes, tmp_path)
    assert result.status == "answered"
    assert [cell["ok"] for cell in result.cells] == [False, True]
    assert result.cells[0]["error"] is not None
    assert result.cells[0]["error"]["name"] == "ZeroDivisionError"
    assert result.cells[1]["stdout"] == "2.5\n"


async def test_same_error_twice_replans_then_stops(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    failing = code("import missing_module_xyz\nprint(missing_module_xyz.value)")
    model = script(
        router=[ROUTE_CODE],
        planner=[ONE_STEP, "1. Try another way and print it | check: a number"],
        coder=[failing, failing, failing, failing],
    )
    result = await run_task("Use a module that does not exist", model, sandboxes, tmp_path)
    assert result.status == "stopped"
    assert result.stop_reason is not None
    assert "same failure happened twice" in result.stop_reason
    assert "ModuleNotFoundError" in result.stop_reason
    # error, the same error (-> replan), the same error again under the new plan (-> stop)
    assert len(result.cells) == 3
    assert result.cells[-1]["attempt"] == 0  # the third cell was the new plan's first try


async def test_trivial_question_needs_no_sandbox(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(router=["ROUTE: answer\nANSWER: 30"])
    result = await run_task("What is 15% of 200?", model, sandboxes, tmp_path)
    assert result.status == "answered"
    assert result.answer == "30"
    assert result.cells == []
    assert sandboxes.started == 0


async def test_budget_exhaustion_stops_with_reason(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE],
        planner=["1. First part | check: printed\n2. Second part | check: printed"],
        coder=[code("print('part one')"), code("print('part two')")],
        reviewer=["VERDICT: next", "VERDICT: done\nANSWER: both"],
    )
    result = await run_task("Two parts", model, sandboxes, tmp_path, limits=RunLimits(max_cells=1))
    assert result.status == "stopped"
    assert result.stop_reason is not None
    assert "RunLimits.max_cells" in result.stop_reason
    assert len(result.cells) == 1


async def test_token_budget(script: Script, sandboxes: CountingManager, tmp_path: Path) -> None:
    model = script(router=[ROUTE_CODE], planner=[ONE_STEP], coder=[code("print(1)")])
    result = await run_task("Anything", model, sandboxes, tmp_path, limits=RunLimits(max_tokens=10))
    assert result.status == "stopped"
    assert result.stop_reason is not None
    assert "RunLimits.max_tokens" in result.stop_reason
    assert result.cells == []


@pytest.mark.parametrize(
    "bad_reply",
    ["I think the answer is probably 42.", "", "Let me explain the approach in words only."],
    ids=["prose-answer", "empty", "prose-only"],
)
async def test_malformed_model_output_is_retried(
    bad_reply: str, script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE],
        planner=[ONE_STEP],
        coder=[bad_reply, code("print(6 * 7)")],
        reviewer=["VERDICT: done\nANSWER: 42"],
    )
    result = await run_task("6 times 7", model, sandboxes, tmp_path)
    assert result.status == "answered"
    assert result.answer == "42"
    assert len(result.cells) == 1


async def test_malformed_output_forever_stops(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(router=[ROUTE_CODE], planner=[ONE_STEP, ONE_STEP], coder=["no code"] * 6)
    result = await run_task("Anything", model, sandboxes, tmp_path)
    assert result.status == "stopped"
    assert result.stop_reason is not None
    assert "no code block" in result.stop_reason
    assert sandboxes.started == 0


async def test_static_check_saves_a_sandbox_run(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE],
        planner=[ONE_STEP],
        coder=[code("print(undefined_thing + 1)"), code("thing = 1\nprint(thing + 1)")],
        reviewer=["VERDICT: done\nANSWER: 2"],
    )
    result = await run_task("Add one", model, sandboxes, tmp_path)
    assert result.status == "answered"
    assert [cell["code"] for cell in result.cells] == ["thing = 1\nprint(thing + 1)"]


async def test_reviewer_checks_output_before_the_model(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE],
        planner=[ONE_STEP],
        coder=[
            code("value = float('nan')"),
            code("import math\nprint(float('nan'))"),
            code("print(3)"),
        ],
        reviewer=["VERDICT: done\nANSWER: 3"],  # only called once: for the good cell
    )
    result = await run_task("Three", model, sandboxes, tmp_path)
    assert result.status == "answered"
    assert [cell["stdout"] for cell in result.cells] == ["", "nan\n", "3\n"]


async def test_nan_kept_after_a_repair_is_for_the_model_to_judge(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    nan_median = code("import statistics\nprint(statistics.median([float('nan')]))")
    model = script(
        router=[ROUTE_CODE],
        planner=[ONE_STEP],
        coder=[nan_median, code("import math\nprint(math.nan)")],
        reviewer=["VERDICT: done\nANSWER: the median is nan"],
    )
    result = await run_task("The median of no numbers", model, sandboxes, tmp_path)
    assert result.status == "answered"
    assert result.answer == "the median is nan"
    assert [cell["stdout"] for cell in result.cells] == ["nan\n", "nan\n"]


async def test_state_persists_across_steps_and_figures_become_artifacts(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE],
        planner=["1. Make data | check: printed\n2. Plot it | check: a figure"],
        coder=[
            code("data = [1, 4, 9]\nprint(len(data))"),
            code("import matplotlib.pyplot as plt\nplt.plot(data)\nplt.show()\nprint(sum(data))"),
        ],
        reviewer=["VERDICT: next", "VERDICT: done\nANSWER: 14"],
    )
    result = await run_task("Plot squares", model, sandboxes, tmp_path)
    assert result.status == "answered"
    figure = next(a for a in result.artifacts if a["mime_type"] == "image/png")
    assert Path(figure["path"]).read_bytes().startswith(b"\x89PNG")
    assert result.cells[1]["images"] == 1


@pytest.mark.parametrize("action", ["approve", "edit", "reject"])
async def test_approval(
    action: Literal["approve", "edit", "reject"],
    script: Script,
    sandboxes: CountingManager,
    tmp_path: Path,
) -> None:
    model = script(
        router=[ROUTE_CODE],
        planner=[ONE_STEP],
        coder=[code("print('original')")],
        reviewer=["VERDICT: done\nANSWER: ok"],
    )
    context = Context(
        model=model, sandboxes=sandboxes, run_dir=str(tmp_path / "runs"), approve=True
    )
    checkpoints = str(tmp_path / "checkpoints.sqlite")
    paused = await arun("Print something", context=context, checkpointer=checkpoints)
    assert paused.status == "awaiting_approval"
    assert paused.pending_approval is not None
    assert paused.pending_approval["code"] == "print('original')"
    assert paused.cells == []  # nothing ran before the decision
    decision: ApprovalDecision = {"action": action}
    if action == "edit":
        decision["code"] = "print('edited')"
    if action == "reject":
        decision["reason"] = "not allowed"
    result = await aresume(
        paused.thread_id,
        decision=decision,
        context=context,
        checkpointer=checkpoints,
    )
    if action == "reject":
        assert result.status == "rejected"
        assert result.stop_reason == "The cell was rejected: not allowed"
        assert result.cells == []
    else:
        assert result.status == "answered"
        assert result.cells[0]["stdout"] == ("edited\n" if action == "edit" else "original\n")


async def test_record_then_replay_reproduces_the_run(
    sandboxes: CountingManager, tmp_path: Path
) -> None:
    from runpad.models import FunctionChatModel

    def respond(messages: list[Any]) -> str:
        prompt = messages[-1].text
        if "Decide how to answer" in prompt:
            return ROUTE_CODE
        if "Plan how to solve" in prompt:
            return ONE_STEP
        if "Write one python cell" in prompt:
            return code("print(2 ** 10)")
        return "VERDICT: done\nANSWER: 1024"

    record = tmp_path / "record.jsonl"
    first = await run_task(
        "2 to the 10th",
        FunctionChatModel(respond=respond),
        sandboxes,
        tmp_path,
        record=str(record),
    )
    replayed = await run_task("2 to the 10th", f"replay:{record}", sandboxes, tmp_path)
    assert first.status == replayed.status == "answered"
    assert first.answer == replayed.answer == "1024"
    assert [c["code"] for c in first.cells] == [c["code"] for c in replayed.cells]


async def test_resume_of_unknown_thread_is_a_clear_error(tmp_path: Path) -> None:
    from runpad.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="No run with thread id 'nope'"):
        await aresume("nope", checkpointer=str(tmp_path / "c.sqlite"), run_dir=str(tmp_path))


async def test_missing_input_file_is_a_clear_error(tmp_path: Path) -> None:
    from runpad.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="not found"):
        await arun("x", files=[tmp_path / "absent.csv"], run_dir=str(tmp_path))


async def test_a_repeated_working_cell_moves_on(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    same = code("print(17 * 23)")
    model = script(
        router=[ROUTE_CODE],
        planner=[ONE_STEP],
        coder=[same, same],
        reviewer=["VERDICT: repair\nNOTES: are you sure?"],  # then no reviewer call again
        reporter=["17 * 23 = 391"],
    )
    result = await run_task("17 * 23", model, sandboxes, tmp_path)
    assert result.status == "answered"
    assert result.answer == "17 * 23 = 391"
    assert len(result.cells) == 2


async def test_wall_time_budget(script: Script, sandboxes: CountingManager, tmp_path: Path) -> None:
    model = script(router=[ROUTE_CODE], planner=[ONE_STEP], coder=[code("print(1)")])
    result = await run_task(
        "Anything", model, sandboxes, tmp_path, limits=RunLimits(max_wall_seconds=0.001)
    )
    assert result.status == "stopped"
    assert result.stop_reason is not None
    assert "RunLimits.max_wall_seconds" in result.stop_reason
    assert sandboxes.started == 0
