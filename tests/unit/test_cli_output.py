"""Text the CLI fits to a line or a table cell: a stopped run's reason is one readable line."""

from __future__ import annotations

import io

from rich.console import Console

from runpad.cli.demo import _print_demo_summary
from runpad.demo import DEMO_TASKS
from runpad.runs import RunResult
from runpad.text import one_line, shorten

LONG_LINE = "x = (" + "1+" * 1000
REASON = (
    "Step 1 kept failing the static check: SyntaxError: '(' was never closed at line 1:\n"
    f"{LONG_LINE}\nA new plan did not help either; stopping."
)


def test_one_line_joins_lines_and_cuts_to_the_limit() -> None:
    line = one_line(REASON, 120)

    assert "\n" not in line
    assert len(line) == 120
    assert line.startswith("Step 1 kept failing the static check: SyntaxError: '(' was never")
    assert line.endswith("…")
    assert one_line("  short\n reason  ") == "short reason"
    assert shorten("  kept as is\n", 20) == "kept as is"


def test_the_demo_table_shows_a_stopped_run_in_one_line() -> None:
    stopped = RunResult(thread_id="t", status="stopped", answer=None, stop_reason=REASON)
    answered = RunResult(thread_id="u", status="answered", answer="42", stop_reason=None)
    output = io.StringIO()
    console = Console(file=output, width=200, no_color=True)

    _print_demo_summary([(DEMO_TASKS[0], stopped), (DEMO_TASKS[1], answered)], console, False)

    table = output.getvalue()
    assert "(none: Step 1 kept failing the static check: SyntaxError" in table
    # The reason's one line, and no more of the offending line than that one line holds.
    assert table.count("1+") == one_line(REASON).count("1+") < 50
    assert "42" in table
