"""The graph as it runs an embedded model on the short prompts, with scripted replies.

The local model is the planner here only: on the short prompts the plan is the task as one
step, made without calling it, so it is never loaded; the other roles are scripted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runpad.agents.reviewer import copied_answer
from runpad.models.local import LocalChatModel
from runpad.prompts import SMALL_MODEL_PROMPTS
from runpad.state import CellRecord
from tests.fixtures.data import make_shop
from tests.fixtures.scripted import ROUTE_CODE, CountingManager, Script, run_task

pytestmark = pytest.mark.sandbox


async def test_one_step_plan_without_a_model_call_and_a_bare_expression_shows_its_value(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE],
        coder=["48271 * 9157"],  # no fence, no print: a notebook shows the value
        reviewer=["VERDICT: done\nANSWER: 442017547"],
    )
    record = tmp_path / "record.jsonl"
    planner = LocalChatModel()

    result = await run_task(
        "What is 48271 * 9157?",
        model,
        sandboxes,
        tmp_path,
        planner_model=planner,
        record=str(record),
    )

    assert result.status == "answered"
    assert [step["description"] for step in result.plan] == ["What is 48271 * 9157?"]
    assert planner.calls == []  # never asked, never loaded
    cell = result.cells[0]
    assert cell["code"] == "48271 * 9157"
    assert cell["result"] == "442017547"
    # The plan is recorded as the planner's reply, so the run replays with any model.
    entries = [json.loads(line) for line in record.read_text().splitlines()[1:]]
    planner_entries = [entry for entry in entries if entry["role"] == "planner"]
    assert planner_entries == [
        {
            "role": "planner",
            "index": 0,
            "content": "1. What is 48271 * 9157? | check: the answer is printed",
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
    ]


async def test_a_miscopied_answer_is_taken_from_what_the_program_printed(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    # The short reviewer prompt says to copy the answer from the output; the 0.5B coder
    # model once answered the word it was asked to reverse instead of what was printed.
    model = script(
        router=[ROUTE_CODE],
        coder=["```python\nprint('orchestration'[::-1])\n```"],
        reviewer=["VERDICT: done\nANSWER: orchestration"],
    )

    result = await run_task(
        "Reverse the string 'orchestration'.",
        model,
        sandboxes,
        tmp_path,
        planner_model=LocalChatModel(),
        prompts=SMALL_MODEL_PROMPTS,
    )

    assert result.status == "answered"
    assert result.answer == "noitartsehcro"
    verdict = result.verdicts[-1]
    assert verdict["decision"] == "done"
    assert verdict["notes"] == "the reviewer's answer is not in the output; taken from it"


@pytest.mark.parametrize(
    ("answer", "printed", "kept"),
    [
        ("The answer is 23.", "23", "The answer is 23."),  # a faithful copy, reworded
        ("3", "23", "23"),  # a digit lost
        ("orchestration", "noitartsehcro", "noitartsehcro"),
        ("Median: 20", "mean 18\nmedian 20.0", "Median: 20"),  # any printed line counts
        (None, "42", "42"),  # no ANSWER line at all
    ],
)
def test_copied_answer(answer: str | None, printed: str, kept: str) -> None:
    cell = CellRecord(stdout=printed + "\n", result=None)  # type: ignore[typeddict-item]
    assert copied_answer(answer, cell) == kept


async def test_a_question_about_a_database_is_one_sql_step(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    # As a plain step the 0.5B wrote Python that guessed table names (0 of 50 sql_defog
    # questions); as a SQL step its prompt carries the schema.
    shop = make_shop(tmp_path / "shop.db")
    model = script(
        router=[ROUTE_CODE],
        coder=["```sql\nSELECT COUNT(*) AS orders FROM orders\n```"],
        reviewer=["VERDICT: done\nANSWER: 4"],
    )

    result = await run_task(
        "How many orders are there?\n\nAnswer with a SQL query against the shop database.",
        model,
        sandboxes,
        tmp_path,
        planner_model=LocalChatModel(),
        prompts=SMALL_MODEL_PROMPTS,
        databases={"shop": f"sqlite:///{shop}"},
    )

    assert result.status == "answered", result.stop_reason
    (step,) = result.plan
    assert step["kind"] == "sql"
    assert step["description"] == (
        "How many orders are there? Answer with a SQL query against the shop database."
    )
    (cell,) = result.cells
    assert cell["language"] == "sql"
    assert result.answer == "4"
