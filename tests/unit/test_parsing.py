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


@pytest.mark.parametrize(
    ("reply", "language", "expected"),
    [
        ("```ts\nconst n: number = 1;\n```", "typescript", "const n: number = 1;"),
        ("```typescript\nconsole.log(1)\n```", "typescript", "console.log(1)"),
        ("```js\nconsole.log(2)\n```", "javascript", "console.log(2)"),
        ("```javascript\nconsole.log(3)\n```", "javascript", "console.log(3)"),
        ("```\nconsole.log(4)\n```", "javascript", "console.log(4)"),  # no tag
        # asked for one, tagged as the other: the Deno kernel runs both
        ("```javascript\nconsole.log(5)\n```", "typescript", "console.log(5)"),
        ("```ts\nconsole.log(6)\n```", "javascript", "console.log(6)"),
        # the asked language wins over its sibling and over Python
        ("```js\nA\n```\n```ts\nB\n```\n```python\nC\n```", "typescript", "B"),
    ],
)
def test_javascript_and_typescript_blocks(reply: str, language: str, expected: str) -> None:
    assert extract_code(reply, language) == expected


def test_a_python_block_is_not_a_typescript_cell() -> None:
    assert extract_code("```python\nprint(1)\n```", "typescript") is None
    assert extract_code("console.log(1)", "typescript") is None  # no fence: not taken as code
    assert extract_code("```ts\nconsole.log(1)\n```") is None  # nor a TS block as Python


def test_plan_steps_in_javascript_and_typescript() -> None:
    plan = parse_plan(
        "1. [typescript] Parse the JSON | check: the keys\n"
        "2. [js] Count the words | check: a number\n"
        "3. [ts] Sum it\n"
        "4. Reshape the records in TypeScript | check: printed\n"
        "5. Do it with JavaScript\n"
        "6. Average with pandas",
        task="t",
        max_steps=6,
    )
    assert [step["kind"] for step in plan] == [
        "typescript",
        "javascript",
        "typescript",
        "typescript",
        "javascript",
        "python",
    ]
    assert plan[0]["description"] == "Parse the JSON"
