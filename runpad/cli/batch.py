"""`runpad batch`: every task of a JSON Lines file as a checkpointed run on a Ray cluster,
with a progress bar, a summary table and the results as JSON Lines (`runpad.cluster`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from runpad.cli.options import CheckpointsOption, ModelOption, OutOption, SandboxOption
from runpad.cli.output import EXIT_FAILED, EXIT_OK, EXIT_STOPPED, EXIT_USAGE, fail, stderr_console
from runpad.cluster import DEFAULT_RETRIES, BatchResult, TaskOutcome, batch
from runpad.errors import ConfigurationError, MissingDependencyError
from runpad.text import one_line

__all__ = ["app", "summary_table"]

app = typer.Typer()

_HELP = (
    "Run every task of a JSON Lines file on a Ray cluster, each as a checkpointed run.\n\n"
    "Each line is one JSON object: task, and optionally id, files, databases, settings. "
    "Run the same command again to finish what is unfinished: finished tasks are kept, "
    "interrupted ones resume from their checkpoints.\n\n"
    "Exit status: 0 every task answered; 1 a task failed or could not run (run the command "
    "again to retry it); 2 usage error (a bad line, an unreachable cluster or database, "
    "SQLite checkpoints on several nodes); 4 a task stopped without an answer; 130 "
    "interrupted (run the command again to resume)."
)


@app.command("batch", help=_HELP)
def batch_command(
    tasks: Annotated[
        Path, typer.Argument(metavar="TASKS.jsonl", help="The batch file.", show_default=False)
    ],
    cluster: Annotated[
        str,
        typer.Option(
            help="'auto' (the Ray cluster this machine belongs to), HOST:PORT of its head, "
            "or 'local' (a one-node Ray for this batch)."
        ),
    ] = "auto",
    checkpoints: CheckpointsOption = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="At most this many tasks in flight (default: as many as the cluster's "
            "sandbox slots allow).",
            show_default=False,
        ),
    ] = None,
    out: OutOption = Path("runs"),
    model: ModelOption = None,
    sandbox: SandboxOption = None,
    batch_id: Annotated[
        str | None,
        typer.Option(
            help="The batch's id, part of every thread id (default: the file's name and a "
            "hash of its content).",
            show_default=False,
        ),
    ] = None,
    retries: Annotated[
        int, typer.Option(min=0, help="Runs of a task again after its node or worker died.")
    ] = DEFAULT_RETRIES,
) -> None:
    console = stderr_console()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("answered {task.fields[answered]}"),
        TimeElapsedColumn(),
    )
    # The bar appears once the file, the store and the cluster have passed their checks.
    progress = Progress(*columns, console=console, transient=False)
    bar = progress.add_task(tasks.name, total=None, answered=0)
    answered = 0

    def started(total: int, finished: int) -> None:
        progress.start()
        progress.update(bar, total=total)
        if finished:
            progress.console.print(
                Text(f"{finished} of {total} task(s) finished earlier: kept.", "dim")
            )

    def ended(outcome: TaskOutcome) -> None:
        nonlocal answered
        answered += outcome.ok
        progress.update(bar, advance=1, answered=answered)
        if outcome.error:
            progress.console.print(Text(f"{outcome.id}: {one_line(outcome.error, 300)}", "yellow"))

    try:
        result = batch(
            tasks,
            checkpoints=checkpoints,
            cluster=cluster,
            out=out,
            concurrency=concurrency,
            batch_id=batch_id,
            retries=retries,
            on_start=started,
            on_task=ended,
            model=model,
            sandbox=sandbox,
        )
    except MissingDependencyError as exc:
        fail(str(exc), EXIT_USAGE)
    except ConfigurationError as exc:  # a bad line, the cluster, the checkpoint store
        fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        fail(
            "Interrupted. The finished tasks are kept: run the same command again to "
            "finish the rest.",
            130,
        )
    finally:
        progress.stop()  # a no-op when the checks failed before it started
    console.print(summary_table(result))
    console.print(Text(f"Results: {result.results_file}", "dim"))
    raise typer.Exit(_exit_code(result))


def _exit_code(result: BatchResult) -> int:
    if result.count("error") or result.count("failed"):
        return EXIT_FAILED
    if not result.ok:
        return EXIT_STOPPED
    return EXIT_OK


def summary_table(result: BatchResult) -> Table:
    """Each task's status, answer and node, and the totals in the caption."""
    table = Table(
        title=f"batch {result.batch_id}",
        caption=(
            f"{result.count('answered')} of {len(result.outcomes)} answered, "
            f"{sum(o.skipped for o in result.outcomes)} kept from earlier, "
            f"{sum(o.resumed and not o.skipped for o in result.outcomes)} resumed; "
            f"{len(result.cluster.nodes) if result.cluster else 0} node(s), "
            f"{result.wall_s:.1f} s"
        ),
    )
    for column in ("task", "status", "answer", "cells", "node", "s"):
        table.add_column(column, overflow="fold")
    for outcome in result.outcomes:
        answer = outcome.answer or outcome.error or outcome.stop_reason or ""
        if outcome.skipped:
            node = "earlier"
        else:
            node = (outcome.node or "")[:8] + (" (resumed)" if outcome.resumed else "")
        table.add_row(
            outcome.id,
            Text(outcome.status, "green" if outcome.ok else "red"),
            one_line(answer, 60),
            str(outcome.cells),
            node,
            f"{outcome.wall_s:.1f}",
        )
    return table
