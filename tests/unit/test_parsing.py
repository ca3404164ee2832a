"""Reading model replies: code blocks, plans, routes and verdicts."""

from __future__ import annotations

import pytest

from runpad.agents.parsing import extract_code, parse_plan, parse_route, parse_verdict


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("```python\nprint(1)\n```", "print(1)"),
        (
            "Sure! Here it is:\n\n```python\nx = 1\nprint(x)\n```\n\nThis prints 1.",
            "x = 1\nprint(x)",
        ),
        ("```\nprint(2)\n```", "print(2)"),  # no language tag
        ("```py\nprint(3)\n```", "print(3)"),
        ("First:\n```python\na = 1\n```\nthen:\n```python\nprint(a)\n```", "a = 1\n\nprint(a)"),
        ("```python\nprint(4)\n", "print(4)"),  # unterminated fence
        ("```python\nfor i in range(2):\n    print(i)", "for i in range(2):\n    print(i)"),
        ("~~~python\nprint(5)\n~~~", "print(5)"),
        ("```bash\nls\n```\n```python\nprint(6)\n```", "print(6)"),  # the python block wins
        ("import math\nprint(math.pi)", "import math\nprint(math.pi)"),  # bare code
        ("````python\nprint('```')\n````", "print('```')"),  # a longer fence holds backticks
    ],
)
def test_extract_code(reply: str, expected: str) -> None:
    assert extract_code(reply) == expected


@pytest.mark.parametrize(
    "reply",
    ["", "   ", "The answer is 42.", "42", "Hello", "I cannot do that.", "```python\n```"],
)
def test_no_code(reply: str) -> None:
    assert extract_code(reply) is None


def test_other_languages_need_their_tag() -> None:
    reply = "```sql\nSELECT 1\n```\n```python\nprint(1)\n```"
    assert extract_code(reply, "sql") == "SELECT 1"
    assert extract_code("SELECT 1", "sql") is None


def test_plan_with_checks() -> None:
    plan = parse_plan(
        "Plan:\n1. Load the CSV | check: prints the row count\n"
        "2) Plot sales by month -- check: a figure\n- Report the total",
        task="t",
        max_steps=5,
    )
    assert [step["description"] for step in plan] == [
        "Load the CSV",
        "Plot sales by month",
        "Report the total",
    ]
    assert plan[0]["success_criterion"] == "prints the row count"
    assert plan[1]["success_criterion"] == "a figure"
    assert "without error" in plan[2]["success_criterion"]
    assert {step["kind"] for step in plan} == {"python"}


def test_plan_falls_back_to_one_step_and_is_capped() -> None:
    assert parse_plan("I will just do it.", task="Sum 1..10", max_steps=3)[0][
        "description"
    ].endswith("Sum 1..10")
    many = "\n".join(f"{i}. step {i}" for i in range(1, 10))
    assert len(parse_plan(many, task="t", max_steps=3)) == 3


def test_plan_step_kinds() -> None:
    plan = parse_plan(
        "1. Query the database with SQL\n2. Draw a Graphviz diagram\n3. Search the web for X",
        task="t",
        max_steps=5,
    )
    assert [step["kind"] for step in plan] == ["sql", "dot", "search"]


def test_route() -> None:
    assert parse_route("ROUTE: code") == ("work", None)
    assert parse_route("route: ANSWER\nanswer: 30") == ("answer", "30")
    assert parse_route("ROUTE: answer") == ("work", None)  # no answer given: compute it
    assert parse_route("gibberish") == ("work", None)


def test_verdicts() -> None:
    assert parse_verdict("VERDICT: next").action == "next"
    done = parse_verdict("VERDICT: done\nANSWER: 42 apples")
    assert (done.action, done.answer) == ("done", "42 apples")
    repair = parse_verdict("**VERDICT:** repair\nNOTES: use the median")
    assert (repair.action, repair.notes) == ("repair", "use the median")
    assert parse_verdict("VERDICT: replan\nNOTES: wrong file").notes == "wrong file"
    assert parse_verdict("looks fine to me").action == "next"
