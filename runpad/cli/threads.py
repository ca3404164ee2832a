"""`runpad threads`, `show` and `export`: read runs back from their checkpoint store.

These commands must start at once, so this module imports neither LangGraph nor LangChain
nor a sandbox: a SQLite store is read by `runpad.runs`; a PostgreSQL store, or a checkpoint
that only LangGraph reads exactly, goes through `runpad.runner`, imported then. What only
one command needs (Markdown rendering, nbformat, the HTML report) is imported by that
command.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from runpad.bridge import run_sync
from runpad.cli.options import CheckpointsOption, JsonOption, OutOption, ThreadArgument
from runpad.cli.output import (
    EXIT_FAILED,
    EXIT_USAGE,
    fail,
    stderr_console,
    stdout_console,
)
from runpad.errors import ConfigurationError, RunNotFound, RunpadError
from runpad.runs import (
    RunResult,
    RunSummary,
    UnsupportedCheckpoint,
    list_sqlite_runs,
    read_sqlite_run,
    sqlite_store,
)
from runpad.text import one_line

__all__ = ["app", "find_run", "load_run", "store_missing"]

app = typer.Typer()


def store_missing(checkpoints: str | None, out: Path) -> bool:
    """A default SQLite store that does not exist yet (reading it must not create it)."""
    return checkpoints is None and not (out / "checkpoints.sqlite").is_file()


def find_run(thread_id: str, checkpoints: str | None, out: Path) -> RunResult:
    """The run as its checkpoints have it.

    Raises:
        RunNotFound: there is no such run.
        ConfigurationError: the store cannot be read.
    """
    store = sqlite_store(checkpoints, out)
    if store is not None and store.is_file():
        try:
            result = read_sqlite_run(thread_id, store, out)
        except UnsupportedCheckpoint:
            pass  # LangGraph reads it below
        else:
            if result is None:
                raise RunNotFound(thread_id)
            return result

    from runpad.runner import aget_run

    return run_sync(aget_run(thread_id, checkpointer=checkpoints, run_dir=out))


def load_run(thread_id: str, checkpoints: str | None, out: Path) -> RunResult:
    """The run as its checkpoints have it; exit 2 if there is none."""
    if store_missing(checkpoints, out):
        fail(f"No runs in {out} (no checkpoints.sqlite there); see --out.", EXIT_USAGE)
    try:
        return find_run(thread_id, checkpoints, out)
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE)


def _list_runs(checkpoints: str | None, out: Path) -> list[RunSummary]:
    store = sqlite_store(checkpoints, out)
    if store is not None and store.is_file():
        try:
            return list_sqlite_runs(store)
        except UnsupportedCheckpoint:
            pass  # LangGraph reads it below

    from runpad.runner import alist_runs

    return run_sync(alist_runs(checkpointer=checkpoints, run_dir=out))


@app.command("threads")
def threads_command(
    out: OutOption = Path("runs"),
    checkpoints: CheckpointsOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the runs of a checkpoint store, the latest first, with status and age."""
    if store_missing(checkpoints, out):
        runs: list[RunSummary] = []
    else:
        try:
            runs = _list_runs(checkpoints, out)
        except ConfigurationError as exc:
            fail(str(exc), EXIT_USAGE)
    if json_output:
        typer.echo(json.dumps([asdict(run) for run in runs], indent=2, default=str))
        return
    if not runs:
        stderr_console().print(Text(f"No runs in {checkpoints or out} yet.", style="dim"))
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("thread", "status", "age", "cells", "task"):
        table.add_column(column, no_wrap=column != "task")
    now = datetime.now(UTC)
    for run in runs:
        style = {"answered": "green", "awaiting_approval": "yellow"}.get(run.status, "red")
        task = one_line(run.task, 80)
        if run.status != "answered" and run.stop_reason:
            task += f"\n{one_line(run.stop_reason, 120)}"
        table.add_row(
            run.thread_id,
            Text(run.status, style=style),
            _age(now - run.updated_at),
            str(run.cells),
            task,
        )
    stdout_console().print(table)


def _age(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


@app.command("show")
def show_command(
    thread_id: ThreadArgument,
    out: OutOption = Path("runs"),
    checkpoints: CheckpointsOption = None,
    json_output: JsonOption = False,
    open_page: Annotated[
        bool, typer.Option("--open", help="Open the run's HTML report in your browser instead.")
    ] = False,
) -> None:
    """Show a run: its plan, each cell with its output, and the answer."""
    # Imported here, as in `export`: `runpad threads` does without Markdown and nbformat.
    from rich.markdown import Markdown

    from runpad.report import render_markdown

    result = load_run(thread_id, checkpoints, out)
    if open_page:
        _open_report(result)
        return
    if json_output:
        typer.echo(json.dumps(asdict(result), indent=2, default=str))
        return
    if result.stop_reason:
        # The report file keeps the whole reason; on screen it is one line (a SyntaxError's
        # reason quotes the offending line, which may be thousands of characters long).
        result = replace(result, stop_reason=one_line(result.stop_reason, 300))
    stdout_console().print(Markdown(render_markdown(result)))


@app.command("export")
def export_command(
    thread_id: ThreadArgument,
    notebook: Annotated[
        Path | None, typer.Option(help="Write the run as a Jupyter notebook here.")
    ] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write the run's report here.")] = None,
    html: Annotated[
        Path | None, typer.Option(help="Write the run's report as one self-contained HTML page.")
    ] = None,
    pdf: Annotated[
        Path | None, typer.Option(help="Write the run's report as PDF (needs Chromium).")
    ] = None,
    out: OutOption = Path("runs"),
    checkpoints: CheckpointsOption = None,
) -> None:
    """Write a run as a Jupyter notebook (its executed cells and outputs) or a report
    (Markdown, HTML or PDF)."""
    import nbformat

    from runpad.report import build_notebook, render_markdown

    if notebook is None and markdown is None and html is None and pdf is None:
        fail(
            "Say what to write: --notebook, --markdown, --html and/or --pdf, each with a PATH.",
            EXIT_USAGE,
        )
    result = load_run(thread_id, checkpoints, out)
    console = stderr_console()
    try:
        if notebook is not None:
            notebook.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(build_notebook(result), str(notebook))
            console.print(Text(f"notebook: {notebook}"))
        if markdown is not None:
            markdown.parent.mkdir(parents=True, exist_ok=True)
            markdown.write_text(render_markdown(result, markdown.parent), encoding="utf-8")
            console.print(Text(f"report:   {markdown}"))
        if html is not None or pdf is not None:
            from runpad.report.html import write_html, write_pdf  # jinja2 and pygments

            if html is not None:
                console.print(Text(f"html:     {write_html(result, html)}"))
            if pdf is not None:
                console.print(Text(f"pdf:      {write_pdf(result, pdf)}"))
    except OSError as exc:
        fail(f"Could not write: {exc}", EXIT_FAILED)
    except ConfigurationError as exc:  # no Chromium for the PDF
        fail(str(exc), EXIT_USAGE)
    except RunpadError as exc:
        fail(str(exc), EXIT_FAILED)


def _open_report(result: RunResult) -> None:
    """Write the run's HTML report in its folder (runs from before it existed have none) and
    open it in the user's browser."""
    from runpad.report import run_files
    from runpad.report.html import open_in_browser, write_html

    if result.output_dir is None:
        fail("The run has no folder to write its report in.", EXIT_FAILED)
    try:
        page = write_html(result, run_files(result.output_dir).html)
    except OSError as exc:
        fail(f"Could not write the report: {exc}", EXIT_FAILED)
    if not open_in_browser(page):
        fail(f"No browser could be started here; open {page} yourself.", EXIT_FAILED)
    stderr_console().print(Text(f"opened {page}"))
