"""Whole runs with JavaScript and TypeScript steps: scripted models, the real local sandbox
with its Deno kernel, and Deno's own parser in the static check.

The planner chooses the language of a step; the coder is asked for a cell in it; the
executor runs it in the session's Deno kernel, which shares the work dir with the Python
kernel; a resumed run rebuilds the Deno kernel's state by replaying its cells.
"""

from __future__ import annotations

import io
import sys
import typing
from pathlib import Path
from typing import Any

import nbformat
import pytest
from rich.console import Console

from runpad.agents.planner import sandbox_languages
from runpad.context import Context
from runpad.display import RunDisplay
from runpad.events import CheckSkipped
from runpad.models import FunctionChatModel
from runpad.report import run_files
from runpad.runner import RunResult, aresume, arun
from runpad.sandbox.limits import Limits
from runpad.sandbox.manager import SandboxManager
from tests.fixtures.scripted import ROUTE_CODE, CountingManager, Script, code, run_task

pytestmark = pytest.mark.sandbox


def fenced(language: str, source: str) -> str:
    return f"Here it is:\n```{language}\n{source}\n```\nIt prints the result."


PLAN = (
    "1. [python] Write the orders to orders.json | check: the count is printed\n"
    "2. [typescript] Total the orders by region into totals.json | check: the totals\n"
    "3. [python] Read totals.json and name the top region | check: a region"
)
WRITE_ORDERS = (
    "import json\n"
    "orders = [{'region': 'north', 'amount': 12.5}, {'region': 'south', 'amount': 20},\n"
    "          {'region': 'north', 'amount': 7.5}]\n"
    "json.dump(orders, open('orders.json', 'w'))\n"
    "print(len(orders))"
)
TOTAL_IN_TYPESCRIPT = (
    "type Order = { region: string; amount: number };\n"
    'const orders: Order[] = JSON.parse(await Deno.readTextFile("orders.json"));\n'
    "const totals: Record<string, number> = {};\n"
    "for (const { region, amount } of orders) totals[region] = (totals[region] ?? 0) + amount;\n"
    'await Deno.writeTextFile("totals.json", JSON.stringify(totals));\n'
    "console.log(totals);"
)
TOP_REGION = (
    "import json\n"
    "totals = json.load(open('totals.json'))\n"
    "print(max(totals, key=totals.get), totals['north'])"
)


async def test_a_typescript_step_between_python_steps_shares_their_files(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    coder = FunctionChatModel(
        replies=[code(WRITE_ORDERS), fenced("ts", TOTAL_IN_TYPESCRIPT), code(TOP_REGION)]
    )
    planner = FunctionChatModel(replies=[PLAN])
    model = script(
        router=[ROUTE_CODE],
        reviewer=["VERDICT: next", "VERDICT: next", "VERDICT: done\nANSWER: north, 20"],
    )
    result = await run_task(
        "Top region", model, sandboxes, tmp_path, coder_model=coder, planner_model=planner
    )

    assert result.status == "answered", result.stop_reason
    assert [step["kind"] for step in result.plan] == ["python", "typescript", "python"]
    assert [cell["language"] for cell in result.cells] == ["python", "typescript", "python"]
    ts_cell = result.cells[1]
    assert ts_cell["ok"], ts_cell["error"]
    assert "north" in ts_cell["stdout"]
    assert "20" in ts_cell["stdout"]
    assert "totals.json" in [artifact["name"] for artifact in ts_cell["artifacts"]]
    assert result.cells[2]["stdout"] == "north 20\n"  # JSON.stringify(20.0) is 20
    assert sandboxes.started == 1  # one session: both kernels in it
    # the local backend runs TypeScript, so the planner was offered it
    assert "[typescript] TypeScript (or [javascript] JavaScript)" in planner.calls[0].last.text
    # the coder was asked for TypeScript, and saw the Python cell before it
    prompt = coder.calls[1].last.text
    assert "Write one TypeScript cell for step 2" in prompt
    assert "Reply with one ```typescript code block" in prompt
    assert "Deno" in prompt
    assert "```python\n" + WRITE_ORDERS in prompt

    files = run_files(result.output_dir or "")
    report = files.report.read_text()
    assert "```typescript\n" + TOTAL_IN_TYPESCRIPT + "\n```" in report
    notebook = nbformat.read(str(files.notebook), as_version=4)
    (ts_code,) = [c for c in notebook.cells if c.metadata.get("runpad", {}).get("index") == 2]
    assert ts_code.cell_type == "code"
    assert ts_code.metadata.runpad.language == "typescript"
    assert ts_code.metadata.vscode.languageId == "typescript"
    assert 'class="highlight language-typescript"' in files.html.read_text()


async def test_a_typescript_syntax_error_goes_back_to_the_coder_before_any_run(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    broken = "const values: number[] = [3, 4, 5];\nconsole.log(values.reduce((a, b) => a + b, 0);"
    fixed = "const values: number[] = [3, 4, 5];\nconsole.log(values.reduce((a, b) => a + b, 0));"
    coder = FunctionChatModel(replies=[fenced("typescript", broken), fenced("typescript", fixed)])
    model = script(
        router=[ROUTE_CODE],
        planner=["1. [typescript] Sum 3, 4 and 5 | check: a number"],
        reviewer=["VERDICT: done\nANSWER: 12"],
    )
    result = await run_task("Sum in TypeScript", model, sandboxes, tmp_path, coder_model=coder)

    assert result.status == "answered", result.stop_reason
    (cell,) = result.cells  # the broken cell never ran
    assert cell["language"] == "typescript"
    assert cell["stdout"] == "12\n"
    repair_prompt = coder.calls[1].last.text
    assert "The static check found problems before running" in repair_prompt
    assert "SyntaxError: Expected ',', got ';' at line 2" in repair_prompt


async def test_a_javascript_step_from_the_tasks_words(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    coder = FunctionChatModel(
        replies=[
            fenced(
                "js",
                "const words = 'to be or not to be'.split(' ');\nconsole.log(new Set(words).size);",
            )
        ]
    )
    model = script(
        router=[ROUTE_CODE],
        planner=["1. Count the distinct words with JavaScript | check: a number"],
        reviewer=["VERDICT: done\nANSWER: 4"],
    )
    result = await run_task(
        "Distinct words, in JavaScript", model, sandboxes, tmp_path, coder_model=coder
    )

    assert result.status == "answered", result.stop_reason
    assert result.plan[0]["kind"] == "javascript"
    (cell,) = result.cells
    assert cell["language"] == "javascript"
    assert cell["stdout"] == "4\n"
    assert "Write one JavaScript cell" in coder.calls[0].last.text


async def test_without_deno_here_the_cell_runs_unchecked_and_the_stream_says_so(
    script: Script, sandboxes: CountingManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "deno", None)  # the host's `deno` package is missing
    events: list[dict[str, Any]] = []
    log = io.StringIO()
    display = RunDisplay(Console(file=log, width=200), live=False)

    def on_event(mode: str, chunk: Any) -> None:
        if mode == "custom":
            events.append(chunk)
        display.handle(mode, chunk)

    model = script(
        router=[ROUTE_CODE],
        planner=["1. [typescript] Print 6 * 7 | check: a number"],
        coder=[fenced("typescript", "console.log(6 * 7);")],
        reviewer=["VERDICT: done\nANSWER: 42"],
    )
    with display:
        async with Context(model=model, sandboxes=sandboxes, run_dir=str(tmp_path)) as ctx:
            result = await arun(
                "6 * 7",
                context=ctx,
                checkpointer=str(tmp_path / "checkpoints.sqlite"),
                on_event=on_event,
            )

    assert result.status == "answered", (result.stop_reason, result.cells)
    (skipped,) = [event for event in events if event["type"] == "check_skipped"]
    assert skipped["language"] == "typescript"
    assert "without a static check" in skipped["message"]
    assert "pip install deno" in skipped["message"]
    assert set(skipped) == set(typing.get_type_hints(CheckSkipped))
    # the live display shows the cell's language and why it was not checked
    assert "cell 1 · step 1 · typescript" in log.getvalue()
    assert "static check: The typescript cell runs without a static check" in log.getvalue()
    assert result.cells[0]["stdout"] == "42\n"  # the sandbox has its own Deno


async def test_a_resumed_run_replays_the_deno_cells_the_snapshot_does_not_hold(
    script: Script, require_sandbox: None, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE],
        planner=[
            "1. [typescript] Count the fruit | check: a count\n"
            "2. [python] Read the counts | check: a total\n"
            "3. [typescript] Add the counts again | check: the same total"
        ],
        coder=[
            fenced(
                "typescript",
                "const counts: Record<string, number> = { apple: 2, pear: 3 };\n"
                'await Deno.writeTextFile("counts.json", JSON.stringify(counts));\n'
                "console.log(Object.keys(counts).length);",
            ),
            code("import json\ntotal = sum(json.load(open('counts.json')).values())\nprint(total)"),
            fenced("typescript", "console.log(counts.apple + counts.pear);"),
        ],
        reviewer=["VERDICT: next", "VERDICT: next", "VERDICT: done\nANSWER: 5"],
    )
    checkpoints = str(tmp_path / "checkpoints.sqlite")
    events: list[dict[str, Any]] = []

    def on_event(mode: str, chunk: Any) -> None:
        if mode == "custom" and chunk.get("type") == "session_restored":
            events.append(chunk)

    def context(manager: SandboxManager) -> Context:
        return Context(model=model, sandboxes=manager, run_dir=str(tmp_path / "runs"), approve=True)

    first = SandboxManager("local", limits=Limits(timeout=30))
    try:
        result = await arun(
            "Fruit", thread_id="t", context=context(first), checkpointer=checkpoints
        )
        for _ in range(2):
            result = await aresume(
                "t", decision="approve", context=context(first), checkpointer=checkpoints
            )
    finally:
        await first.aclose()
    assert result.status == "awaiting_approval"
    assert [cell["ok"] for cell in result.cells] == [True, True]

    second = SandboxManager("local", limits=Limits(timeout=30))  # a fresh session
    try:
        result = await _approve(context(second), checkpoints, on_event)
    finally:
        await second.aclose()

    assert result.status == "answered", result.stop_reason
    assert result.cells[-1]["stdout"] == "5\n", result.cells[-1]
    (restored,) = events
    assert restored["snapshot_cell"] == 2  # taken after the Python cell: no Deno state in it
    assert restored["replayed"] == 1  # the TypeScript cell before the snapshot
    assert restored["failed"] == 0
    assert restored["message"] == (
        "Sandbox session restored from the snapshot after cell 2; replayed 0 later cell(s) "
        "and 1 JavaScript/TypeScript cell(s) the snapshot does not hold"
    )


async def _approve(context: Context, checkpoints: str, on_event: Any) -> RunResult:
    return await aresume(
        "t", decision="approve", context=context, checkpointer=checkpoints, on_event=on_event
    )


async def test_the_planner_offers_typescript_only_where_the_backend_runs_it() -> None:
    async with Context(model=FunctionChatModel(replies=[]), sandbox="local") as local:
        assert {"javascript", "typescript"} <= set(await sandbox_languages(local))
    async with Context(model=FunctionChatModel(replies=[]), sandbox="fake") as fake:
        assert await sandbox_languages(fake) == ("python", "shell")


async def test_a_typescript_step_is_decided_by_a_vote_too(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    # No reviewer reply: a vote needs no model to judge it.
    model = script(
        router=[ROUTE_CODE],
        planner=["1. [typescript] Compute 6 * 7 | check: a number"],
        coder=[
            fenced("ts", "const answer: number = 6 * 6;\nconsole.log(answer);"),
            fenced("ts", "const answer: number = 6 * 7;\nconsole.log('The answer is', answer);"),
            fenced("ts", "const answer = 42.0;\nconsole.log(answer);"),  # redeclared: allowed
        ],
    )
    result = await run_task("What is 6 * 7?", model, sandboxes, tmp_path, samples=3)

    assert result.status == "answered", result.stop_reason
    assert result.answer == "The answer is 42"
    assert [cell["language"] for cell in result.cells] == ["typescript"] * 3
    assert [cell["stdout"] for cell in result.cells] == ["36\n", "The answer is 42\n", "42\n"]
