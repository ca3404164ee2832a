"""`runpad eval`: run a benchmark suite and score it (registered in `runpad.cli`).

Exit status: 0 the suite ran; 1 a task could not run (harness error), or the oracle
scored less than 100%; 2 usage error; 3 the sandbox could not start; 130 interrupted.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from runpad.bridge import run_sync
from runpad.errors import ConfigurationError, ModelUnavailable, SandboxError
from runpad.evaluation.report import EvalReport, TaskResult, markdown_table
from runpad.evaluation.runner import EVAL_LIMITS, MODES, EvalSettings, evaluate
from runpad.evaluation.suites import SUITES, EvalTask

__all__ = ["eval_command"]


def eval_command(
    suite: Annotated[
        str, typer.Argument(help=f"The suite: {', '.join(SUITES)}.", show_default=False)
    ],
    model: Annotated[
        str | None,
        typer.Option(
            help="The model: 'local', 'provider:name' or 'replay:PATH' (default: "
            "$RUNPAD_MODEL, else local)."
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            help="code: the whole graph; no-code: one direct answer; oracle: the "
            "benchmark's reference solutions through the graph."
        ),
    ] = "code",
    limit: Annotated[
        int | None, typer.Option(help="Run a seeded sample of this many tasks.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sample and of the local model.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="Write results.json, results.md, the runs and checkpoints here."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report as one JSON document on stdout.")
    ] = False,
    benchmarks: Annotated[
        Path | None,
        typer.Option(
            help="The benchmarks folder (default: $RUNPAD_BENCHMARKS, else ../shared/benchmarks).",
            show_default=False,
        ),
    ] = None,
    task: Annotated[
        list[str] | None, typer.Option("--task", help="Run only this task id; repeat for more.")
    ] = None,
    max_cells: Annotated[
        int, typer.Option(help="Cells each task's run may execute.")
    ] = EVAL_LIMITS.max_cells,
    max_seconds: Annotated[
        float, typer.Option(help="Wall time of each task's run.")
    ] = EVAL_LIMITS.max_wall_seconds,
    sandbox: Annotated[str, typer.Option(help="The sandbox backend.")] = "local",
    samples: Annotated[
        int,
        typer.Option(
            min=1, help="Programs sampled per Python step, voting on the answers they print."
        ),
    ] = 1,
    cluster: Annotated[
        str | None,
        typer.Option(
            help="Run the tasks on a Ray cluster, as `runpad batch` does: 'auto', HOST:PORT "
            "or 'local' (default: here, one after another).",
            show_default=False,
        ),
    ] = None,
    checkpoints: Annotated[
        str | None,
        typer.Option(
            help="With --cluster: the checkpoint store, a PostgreSQL URL on more than one "
            "node (default: SQLite under --out).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a benchmark suite through runpad and score it with the suite's own checker."""
    if suite not in SUITES:
        raise typer.BadParameter(f"choose one of: {', '.join(SUITES)}", param_hint="SUITE")
    if mode not in MODES:
        raise typer.BadParameter(f"choose one of: {', '.join(MODES)}", param_hint="--mode")
    settings = EvalSettings(
        model=model,
        mode=mode,  # narrowed to a Mode by the check above
        limit=limit,
        seed=seed,
        out_dir=out,
        benchmarks=benchmarks,
        limits=dataclasses.replace(EVAL_LIMITS, max_cells=max_cells, max_wall_seconds=max_seconds),
        sandbox=sandbox,
        task_ids=tuple(task or ()),
        samples=samples,
        cluster=cluster,
        checkpoints=checkpoints,
    )
    console = Console(file=sys.stderr, highlight=False, soft_wrap=True)
    try:
        report = run_sync(_run_with_progress(suite, settings, console))
    except ModelUnavailable as exc:  # the local model's weights: missing, corrupt, too big
        console.print(Text(f"Error: {exc}", style="red"))
        raise typer.Exit(3) from None
    except ConfigurationError as exc:
        console.print(Text(f"Error: {exc}", style="red"))
        raise typer.Exit(2) from None
    except SandboxError as exc:
        console.print(Text(f"Error: the sandbox could not run the suite.\n{exc}", style="red"))
        raise typer.Exit(3) from None
    except KeyboardInterrupt:
        console.print(Text("Error: interrupted", style="red"))
        raise typer.Exit(130) from None
    if json_output:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        typer.echo(markdown_table(report, tasks=False))
    if out is not None:
        console.print(Text(f"Results: {out / 'results.json'}, {out / 'results.md'}", "dim"))
    failed = report.summary.errors > 0 or (
        report.mode == "oracle" and report.summary.correct < report.summary.scored
    )
    raise typer.Exit(1 if failed else 0)


async def _run_with_progress(suite: str, settings: EvalSettings, console: Console) -> EvalReport:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("correct {task.fields[correct]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task(f"{suite} ({settings.mode})", total=None, correct=0)
        correct = 0

        def started(total: int) -> None:
            progress.update(bar, total=total)

        def finished(task: EvalTask, result: TaskResult) -> None:
            nonlocal correct
            correct += result.correct
            progress.update(bar, advance=1, correct=correct)
            if result.error:
                progress.console.print(Text(f"{task.id}: {result.error}", style="yellow"))

        return await evaluate(suite, settings, on_task=finished, on_start=started)
