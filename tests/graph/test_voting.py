"""Voting: several programs per step, the answer most of them print wins.

Scripted coders, the real local sandbox. No reviewer reply is scripted in these runs: a
vote needs no model to judge it, and a reviewer call would fail the replay.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage

from runpad.context import Context, RunLimits
from runpad.models import FunctionChatModel
from tests.fixtures.scripted import ONE_STEP, ROUTE_CODE, CountingManager, Script, code, run_task

pytestmark = pytest.mark.sandbox


async def test_the_answer_most_samples_print_wins(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE],
        planner=[ONE_STEP],
        coder=[code("print(41)"), code("print('The answer is', 6 * 7)"), code("print(42.0)")],
    )
    result = await run_task("What is 6 * 7?", model, sandboxes, tmp_path, samples=3)
    assert result.status == "answered"
    # 42 and 42.0 are one answer; the first program that printed it gives the answer text.
    assert result.answer == "The answer is 42"
    assert [cell["stdout"] for cell in result.cells] == ["41\n", "The answer is 42\n", "42.0\n"]


async def test_a_tie_goes_to_the_first_sample(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE], planner=[ONE_STEP], coder=[code("print(1)"), code("print(2)")]
    )
    result = await run_task("Pick one", model, sandboxes, tmp_path, samples=2)
    assert result.answer == "1"


async def test_a_failing_sample_is_repaired_then_abstains(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE],
        planner=[ONE_STEP],
        coder=[
            code("print(1 / 0)"),  # sample 0 fails...
            code("print(7)"),  # ...and its repair votes 7
            code("raise ValueError('no')"),  # sample 1 fails
            code("raise ValueError('no')"),  # the same failure: it abstains
            code("print(8)"),  # sample 2 votes 8
            code("print(7.0)"),  # sample 3 votes 7
        ],
    )
    limits = RunLimits(max_attempts_per_step=3)
    result = await run_task("Seven", model, sandboxes, tmp_path, samples=4, limits=limits)
    assert result.status == "answered"
    assert result.answer == "7"
    assert [cell["ok"] for cell in result.cells] == [False, True, False, False, True, True]
    assert [cell["attempt"] for cell in result.cells] == [0, 1, 0, 1, 0, 0]


async def test_when_every_sample_fails_the_step_fails(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE],
        planner=[ONE_STEP],
        coder=[code("print(1 / 0)"), code("print()")],
    )
    limits = RunLimits(max_attempts_per_step=1, max_replans=0)
    result = await run_task("Nothing", model, sandboxes, tmp_path, samples=2, limits=limits)
    assert result.status == "stopped"
    assert result.stop_reason is not None
    assert "None of the 2 programs sampled for step 1" in result.stop_reason


async def test_each_sample_is_written_without_its_siblings(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    prompts: list[str] = []
    programs: Iterator[str] = iter(["print(missing_name_xyz)", "print(3)", "print(3)"])

    def coder(messages: list[BaseMessage]) -> str:
        prompts.append(messages[-1].text)
        return code(next(programs))

    others = script(router=[ROUTE_CODE], planner=[ONE_STEP])
    result = await run_task(
        "Three",
        others,
        sandboxes,
        tmp_path,
        coder_model=FunctionChatModel(respond=coder),
        samples=2,
        limits=RunLimits(max_attempts_per_step=2),
    )
    assert result.answer == "3"
    # The repair of sample 0 is told what failed; sample 1 starts clean.
    assert "missing_name_xyz" not in prompts[0]
    assert "missing_name_xyz" in prompts[1]
    assert "missing_name_xyz" not in prompts[2]
    assert "print(3)" not in prompts[2]


async def test_the_winner_of_an_earlier_step_runs_again(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    two_steps = (
        "1. Choose x and print it | check: x is printed\n"
        "2. Print twice x | check: the number is printed"
    )
    model = script(
        router=[ROUTE_CODE],
        planner=[two_steps],
        coder=[
            code("x = 5\nprint(x)"),
            code("x = 6\nprint(x)"),
            code("x = 5\nprint(x)"),
            code("print(x * 2)"),
            code("print(x * 2)"),
            code("print(x * 2)"),
        ],
    )
    result = await run_task("Twice five", model, sandboxes, tmp_path, samples=3)
    assert result.status == "answered"
    # 5 won over 6, and sample 2, the last to run, printed 5 too: no rerun is needed.
    assert [cell["stdout"] for cell in result.cells[:3]] == ["5\n", "6\n", "5\n"]
    assert result.answer == "10"

    model = script(
        router=[ROUTE_CODE],
        planner=[two_steps],
        coder=[code("x = 5\nprint(x)"), code("x = 6\nprint(x)")] + [code("print(x * 2)")] * 2,
    )
    result = await run_task("Five, not six", model, sandboxes, tmp_path, samples=2)
    # A tie goes to sample 0 (x = 5), which ran before x = 6: it runs again.
    assert [cell["stdout"] for cell in result.cells] == ["5\n", "6\n", "5\n", "10\n", "10\n"]
    assert result.answer == "10"


async def test_a_budget_spent_mid_vote_counts_the_votes_in(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE], planner=[ONE_STEP], coder=[code("print(3)"), code("print(4)")]
    )
    limits = RunLimits(max_cells=2)
    result = await run_task("Three", model, sandboxes, tmp_path, samples=5, limits=limits)
    assert result.status == "answered"
    assert result.answer == "3"
    assert len(result.cells) == 2


def test_samples_must_be_positive() -> None:
    from runpad.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="samples"):
        Context(model="replay:none", samples=0)
