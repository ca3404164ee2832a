"""The terminal view of a run: what `runpad run` shows while the graph works.

`RunDisplay.handle` takes the run's stream events (`on_event` of `runpad.arun`): the
"tasks" events say which node runs, the "updates" events carry the plan and each cell's
record, and the "custom" events (`runpad.events`) carry each cell's code, its output as it
streams, its artifacts, the votes and the reviewer's verdicts. Everything that happened is
printed once, as it happens (so a log or a pipe gets the whole story); on a terminal a live
footer below it shows the plan's steps with their state and the node now running.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self, cast

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.spinner import Spinner
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from runpad.cells import lexer_name
from runpad.events import RunEvent, Verdict, verdict_line
from runpad.sandbox.results import format_size
from runpad.state import CellRecord, PlanStep
from runpad.text import shorten

__all__ = ["RunDisplay"]

StepState = Literal["pending", "running", "done", "failed"]

_NODE_DOING = {
    "router": "deciding how to answer",
    "planner": "planning",
    "coder": "writing a cell",
    "static_check": "checking the cell",
    "approval": "waiting for approval",
    "executor": "running the cell in the sandbox",
    "reviewer": "reviewing the output",
    "reporter": "writing the answer",
}
_STATE_MARK = {
    "pending": Text("·", style="dim"),
    "running": Text("▸", style="bold cyan"),
    "done": Text("✓", style="green"),
    "failed": Text("✗", style="red"),
}


# How the log colours the reviewer's decisions (a repair or a new plan is a warning).
_DECISION_STYLES = {"done": "green", "next_step": "green", "rerun_winner": "cyan"}


@dataclass
class _Progress:
    plan: list[PlanStep] = field(default_factory=list)
    states: list[StepState] = field(default_factory=list)
    node: str | None = None
    step_index: int = 0
    cells: int = 0


class RunDisplay:
    """Prints a run's progress on `console` (stderr, so that stdout keeps the answer).

    Args:
        console: where to print.
        live: keep a live footer (plan steps, the node now running) below the log; for
            terminals. Without it the log is plain lines, for pipes and files.

    Use it as a context manager around the run, and pass `handle` as `on_event`.
    """

    def __init__(self, console: Console, *, live: bool) -> None:
        self.console = console
        self._progress = _Progress()
        self._live = (
            Live(
                console=console,
                get_renderable=self._footer,
                transient=True,
                refresh_per_second=8,
            )
            if live
            else None
        )
        self._partial: dict[str, str] = {}  # an output line still without its newline

    def __enter__(self) -> Self:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._flush_output()
        if self._live is not None:
            self._live.stop()

    # -- events ----------------------------------------------------------------------------

    def handle(self, mode: str, chunk: Any) -> None:
        """The `on_event` handler: one stream event of the run."""
        if mode == "tasks" and isinstance(chunk, Mapping):
            self._on_task(chunk)
        elif mode == "updates" and isinstance(chunk, Mapping):
            for node, update in chunk.items():
                if node == "__interrupt__":
                    self._progress.node = "approval"
                elif isinstance(update, Mapping):
                    self._on_update(node, update)
        elif mode == "custom" and isinstance(chunk, Mapping) and "type" in chunk:
            self._on_custom(cast(RunEvent, chunk))
        if self._live is not None:
            self._live.refresh()

    def _on_task(self, chunk: Mapping[str, Any]) -> None:
        if "input" not in chunk:  # a node finished
            if self._progress.node == chunk.get("name"):
                self._progress.node = None
            return
        progress = self._progress
        progress.node = str(chunk.get("name"))
        state = chunk.get("input")
        if isinstance(state, Mapping) and progress.node in ("coder", "static_check", "executor"):
            self._set_running(int(state.get("step_index", 0)))

    def _on_update(self, node: str, update: Mapping[str, Any]) -> None:
        progress = self._progress
        if update.get("plan"):
            replanned = bool(progress.plan)
            progress.plan = list(update["plan"])
            progress.states = ["pending"] * len(progress.plan)
            self._print_plan(replanned)
        if node == "router" and update.get("route") == "answer":
            self.console.print(Text("Answered without running code.", style="dim"))
        elif node == "static_check" and update.get("feedback"):
            self._note("static check", str(update["feedback"]), "yellow")
        elif node == "executor" and update.get("cells"):
            self._flush_output()
            for cell in update["cells"]:
                self._print_outcome(cell)
        if update.get("status") in ("stopped", "rejected") and update.get("stop_reason"):
            self._mark_current("failed")
            self._note(str(update["status"]), str(update["stop_reason"]), "red")

    def _on_custom(self, event: RunEvent) -> None:
        kind = event["type"]
        if event["type"] == "cell":
            self._flush_output()
            self._progress.cells = event["index"]
            language = event["language"]
            title = f"cell {event['index']} · step {self._progress.step_index + 1} · {language}"
            code = Syntax(
                event["code"].rstrip(),
                lexer_name(language),
                theme="ansi_dark",
                background_color="default",
                word_wrap=True,
            )
            self.console.print(Panel(code, title=title, title_align="left", border_style="blue"))
        elif event["type"] == "stdout" or event["type"] == "stderr":
            self._write_output(kind, event["text"])
        elif event["type"] == "artifact":
            self._flush_output()
            self.console.print(
                Text(
                    f"  + {event['name']}  ({event['mime_type']}, "
                    f"{format_size(event['size'])})  {event['path']}",
                    style="magenta",
                )
            )
        elif event["type"] == "session_restored" or event["type"] == "snapshot_skipped":
            self._note("sandbox", event["message"], "dim")
        elif event["type"] == "check_skipped":
            self._note("static check", event["message"], "yellow")
        elif event["type"] == "vote":
            said = f"votes {event['key']}" if event["key"] is not None else "abstains (no result)"
            self._note("vote", f"sample {event['sample']} {said}", "cyan")
        elif event["type"] == "verdict":
            self._on_verdict(event)

    def _on_verdict(self, verdict: Verdict) -> None:
        """The reviewer's decision on a cell: the plan's footer and one line of the log."""
        decision = verdict["decision"]
        if decision in ("done", "next_step"):
            self._mark_current("done")
        elif decision == "replan":
            self._mark_current("failed")
        if line := verdict_line(verdict):
            self._note("reviewer", line, _DECISION_STYLES.get(decision, "yellow"))

    # -- output --------------------------------------------------------------------------------

    def _write_output(self, stream: str, text: str) -> None:
        """Print whole lines as they arrive; a partial line waits for its end."""
        pending = self._partial.get(stream, "") + text
        *lines, rest = pending.split("\n")
        self._partial[stream] = rest
        style = "red" if stream == "stderr" else ""
        for line in lines:
            self.console.print(Text("  │ " + line, style=style), soft_wrap=True)

    def _flush_output(self) -> None:
        for stream, rest in list(self._partial.items()):
            if rest:
                style = "red" if stream == "stderr" else ""
                self.console.print(Text("  │ " + rest, style=style), soft_wrap=True)
        self._partial.clear()

    def _print_outcome(self, cell: CellRecord) -> None:
        if cell["result"] is not None:
            self.console.print(Text(f"  Out: {shorten(cell['result'], 300)}", style="bold"))
        error = cell["error"]
        if cell["timed_out"]:
            line = Text(f"  ✗ timed out after {cell['duration_ms'] / 1000:.1f} s", style="red")
        elif error is not None:
            line = Text(f"  ✗ {error['name']}: {shorten(error['value'], 300)}", style="red")
        else:
            line = Text(f"  ✓ ok in {cell['duration_ms']:.0f} ms", style="green")
        self.console.print(line)
        if cell["restarted"]:
            self._note("sandbox", "the kernel was restarted; variables were lost", "yellow")

    def _print_plan(self, replanned: bool) -> None:
        title = "New plan" if replanned else "Plan"
        lines = Text(f"{title}:\n", style="bold")
        for number, step in enumerate(self._progress.plan, 1):
            lines.append(f"  {number}. {step['description']}")
            lines.append(f"  (check: {step['success_criterion']})\n", style="dim")
        self.console.print(lines, end="")

    def _note(self, who: str, text: str, style: str) -> None:
        self.console.print(Text.assemble((f"{who}: ", f"bold {style}"), (text, style)))

    # -- the footer ----------------------------------------------------------------------------

    def _set_running(self, step_index: int) -> None:
        progress = self._progress
        progress.step_index = step_index
        if 0 <= step_index < len(progress.states) and progress.states[step_index] == "pending":
            progress.states[step_index] = "running"

    def _mark_current(self, state: StepState) -> None:
        progress = self._progress
        if 0 <= progress.step_index < len(progress.states):
            progress.states[progress.step_index] = state

    def _footer(self) -> RenderableType:
        progress = self._progress
        parts: list[RenderableType] = []
        if progress.plan:
            table = Table.grid(padding=(0, 1))
            for number, (step, state) in enumerate(
                zip(progress.plan, progress.states, strict=True), 1
            ):
                table.add_row(_STATE_MARK[state], Text(f"{number}. {step['description']}"))
            parts.append(table)
        if progress.node is not None:
            doing = _NODE_DOING.get(progress.node, "")
            parts.append(Spinner("dots", Text(f"{progress.node}: {doing}", style="cyan")))
        return Group(*parts)
