"""`runpad demo`: a few questions and a bundled CSV, answered offline, a report of each."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from runpad.cli.options import ModelOption, QuietOption
from runpad.cli.output import stderr_console, stdout_console
from runpad.cli.runs import Invocation, Output, RunSettings, drive_sync, make_context, save_settings
from runpad.demo import DEMO_LIMITS, DEMO_TASKS, EMBEDDED_MODEL_NOTE, DemoTask
from runpad.models import describe_model
from runpad.report import run_files
from runpad.runner import EventHandler, arun, new_thread_id
from runpad.runs import RunResult
from runpad.text import one_line, shorten

__all__ = ["app"]

app = typer.Typer()


@app.command("demo")
def demo_command(
    model: ModelOption = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where the demo's runs and reports go.")
    ] = Path("runs/demo"),
    quiet: QuietOption = False,
) -> None:
    """Answer a few questions and analyse a bundled CSV, offline; a report of each.

    The embedded defaults: the local model, the local sandbox, SQLite checkpoints.

    Exit status: 0 the demo ran (the model may still fail to answer: it is small, and
    says so); 2 no usable model; 3 the sandbox cannot start.
    """
    settings = RunSettings(model=model)
    embedded = (model or os.environ.get("RUNPAD_MODEL") or "local").startswith("local")
    context = make_context(settings, out, {}, limits=DEMO_LIMITS)
    console = stderr_console()
    output = Output(quiet=quiet)
    if not quiet:
        intro = (
            f"{len(DEMO_TASKS)} questions, answered by the "
            f"{describe_model(context.model_for('coder'))} model "
            "writing Python that runs in the local sandbox (no network)."
        )
        if embedded:
            intro += "\n" + EMBEDDED_MODEL_NOTE
        console.print(Panel(Text(intro), title="runpad demo", title_align="left"), soft_wrap=False)
    results: list[tuple[DemoTask, RunResult]] = []
    for number, demo in enumerate(DEMO_TASKS, 1):
        if not quiet:
            files = ", ".join(path.name for path in demo.files)
            title = f"{number}/{len(DEMO_TASKS)}  {demo.task}" + (f"  ({files})" if files else "")
            console.rule(Text(title, style="bold"))
        thread_id = new_thread_id()
        save_settings(settings, out / thread_id)

        async def start(
            handler: EventHandler, demo: DemoTask = demo, thread: str = thread_id
        ) -> RunResult:
            return await arun(
                demo.task, files=demo.files, thread_id=thread, context=context, on_event=handler
            )

        invocation = Invocation(context, None, thread_id, output)
        results.append((demo, drive_sync(invocation, start)))
        # Each run closes the context's sessions when it ends; the next starts afresh.
    _print_demo_summary(results, console, quiet)


def _print_demo_summary(
    results: list[tuple[DemoTask, RunResult]], console: Console, quiet: bool
) -> None:
    table = Table(title="runpad demo", title_justify="left", show_lines=True)
    for column in ("question", "status", "the model's answer", "what the code printed"):
        table.add_column(column, overflow="fold")
    for demo, result in results:
        answer = result.answer or f"(none: {one_line(result.stop_reason or result.status)})"
        table.add_row(
            demo.task, result.status, shorten(answer, 200), shorten(_computed(result), 200)
        )
    (console if not quiet else stdout_console()).print(table, soft_wrap=False)
    for _, result in results:
        if result.output_dir:
            console.print(Text(f"report: {run_files(result.output_dir).report}", style="dim"))
    console.print(
        Text(
            "The answers are the model's; what the code printed is what the sandbox computed. "
            "Each report has the plan, every cell with its output, and the answer.",
            style="dim",
        )
    )


def _computed(result: RunResult) -> str:
    """What the last cell that worked printed or returned: the evidence behind an answer."""
    for cell in reversed(result.cells):
        if cell["ok"]:
            shown = (cell["stdout"] + (cell["result"] or "")).strip()
            if shown:
                return shown
    return "(no cell ran successfully)" if result.cells else "(no code ran)"
