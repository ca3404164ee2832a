"""`runpad sandbox ...`: set up, check and use the code sandbox."""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from runpad.bridge import run_sync
from runpad.cli.output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SANDBOX,
    fail,
    stderr_console,
    stdout_console,
)
from runpad.errors import ConfigurationError, RunpadError
from runpad.sandbox.base import Sandbox
from runpad.sandbox.environment import default_environment_path, setup_environment
from runpad.sandbox.factory import BACKENDS, open_sandbox
from runpad.sandbox.limits import Limits
from runpad.sandbox.local.check import IsolationReport, Layer, check_isolation
from runpad.sandbox.results import Execution, Language, OutputChunk, format_size

__all__ = ["app"]

app = typer.Typer(
    name="sandbox",
    help="Set up, check and use the code sandbox.",
    no_args_is_help=True,
)

# -- runpad sandbox setup ---------------------------------------------------------------------


@app.command("setup")
def sandbox_setup(
    path: Annotated[
        Path | None,
        typer.Option(
            help="Where to create the environment "
            f"[default: $RUNPAD_SANDBOX_ENV or {default_environment_path()}]",
            show_default=False,
        ),
    ] = None,
    package: Annotated[
        list[str] | None,
        typer.Option(
            "--package",
            "-p",
            help="An extra package to install (pip requirement syntax); repeat for more.",
        ),
    ] = None,
) -> None:
    """Create or update the Python environment that sandboxed code runs in."""
    console = stderr_console()
    try:
        environment = setup_environment(
            path, extra_packages=package or (), log=lambda line: console.print(Text(line))
        )
    except (RunpadError, OSError) as exc:
        fail(f"The sandbox environment could not be set up.\n{exc}", EXIT_FAILED)
    console.print(
        Text(
            f"Done: {environment.path}. Run `runpad sandbox check` to see what the sandbox "
            "isolates on this machine."
        )
    )


# -- runpad sandbox docker-build ----------------------------------------------------------------


@app.command("docker-build")
def sandbox_docker_build(
    tag: Annotated[str, typer.Option(help="The image's tag.")] = "runpad-sandbox:local",
    force: Annotated[bool, typer.Option(help="Rebuild even if the image is current.")] = False,
) -> None:
    """Build the docker backend's image from this machine's files (no registry needed)."""
    from runpad.sandbox.docker.image import build_local_image

    console = stderr_console()
    try:
        build_local_image(tag=tag, force=force, log=lambda line: console.print(Text(line)))
    except (RunpadError, OSError) as exc:
        fail(f"The docker image could not be built.\n{exc}", EXIT_FAILED)


# -- runpad sandbox check ---------------------------------------------------------------------


@app.command("check")
def sandbox_check(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report as one JSON document.")
    ] = False,
) -> None:
    """Start a throw-away sandbox, probe it from inside and report every isolation layer.

    Exit status: 0 isolated, 1 not isolated or the sandbox cannot run here.
    """
    report = check_isolation()
    if json_output:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report, stdout_console())
    raise typer.Exit(EXIT_OK if report.isolated else EXIT_FAILED)


@app.command("node-resources")
def sandbox_node_resources(
    backend: Annotated[
        str, typer.Option(help="The backend this Ray node holds sessions of: local or docker.")
    ] = "local",
    slots: Annotated[
        int | None,
        typer.Option(
            min=1, help="Sandbox slots to offer; default: memory / one session's memory_mb."
        ),
    ] = None,
) -> None:
    """Print the `ray start --resources` JSON of this node: sandbox slots if a test session
    of BACKEND runs here, none (`{}`, the reason on stderr) if it does not.

        ray start --address=HEAD:6379 --resources="$(runpad sandbox node-resources)"

    Exit status: 0 either way, so that a node without a sandbox still joins the cluster
    (for work other than sandboxes) without being given sessions.
    """
    from runpad.sandbox.ray.node import node_resources

    offer = node_resources(backend, slots=slots)
    if offer.problem is not None:
        stderr_console().print(f"No sandbox slots on this node: {offer.problem}", markup=False)
    typer.echo(json.dumps(offer.resources))


def _layer_table(title: str, layers: tuple[Layer, ...]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("layer", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail")
    for layer in layers:
        if layer.active:
            status = Text("active", style="green")
        else:
            status = Text("INACTIVE" if layer.essential else "inactive", style="red")
        name = Text(layer.name + (" *" if layer.essential else ""))
        table.add_row(name, status, Text(layer.detail))
    return table


def _print_report(report: IsolationReport, console: Console) -> None:
    if report.problem is not None:
        console.print(
            Text(f"The local sandbox cannot run here.\n{report.problem}", style="red"),
            soft_wrap=True,
        )
        return
    console.print(_layer_table("Isolation (* essential)", report.layers))
    console.print()
    console.print(_layer_table("Limits", report.limits))
    console.print()
    if report.runtimes:
        console.print(_layer_table("Other languages", report.runtimes))
        console.print()
    if report.isolated:
        console.print(Text("Isolated: every essential layer holds.", style="bold green"))
    else:
        missing = ", ".join(
            layer.name for layer in report.layers if layer.essential and not layer.active
        )
        console.print(Text(f"NOT isolated: {missing} inactive.", style="bold red"))


# -- runpad sandbox run -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Cell:
    name: str
    code: str
    language: Language = "python"


_SUFFIX_LANGUAGES: dict[str, Language] = {
    ".js": "javascript",
    ".mjs": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
}
"""Files whose cells are not Python, by suffix (run in the session's Deno kernel)."""


def _read_cells(files: list[str]) -> list[_Cell]:
    cells = []
    for name in files or ["-"]:
        if name == "-":
            if sys.stdin.isatty():
                stderr_console().print("Reading code from standard input (Ctrl-D to end).")
            cells.append(_Cell("<stdin>", sys.stdin.read()))
            continue
        try:
            language = _SUFFIX_LANGUAGES.get(Path(name).suffix.lower(), "python")
            cells.append(_Cell(name, Path(name).read_text(), language))
        except FileNotFoundError as exc:
            raise typer.BadParameter(f"no such file: {name}", param_hint="FILE") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {name}: {exc}", param_hint="FILE") from exc
    return cells


@app.command("run")
def sandbox_run(
    files: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="FILE",
            help="Python files (JavaScript: .js, .mjs; TypeScript: .ts, .mts), each run as "
            "one cell in the same session; '-' or none: standard input (Python).",
            show_default=False,
        ),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(
            help=f"The sandbox backend, one of: {', '.join(BACKENDS)}. "
            "'unsafe-local' runs code WITHOUT isolation."
        ),
    ] = "local",
    timeout: Annotated[
        float | None,
        typer.Option(
            help=f"Wall-clock seconds per cell [default: {Limits().timeout:g}].",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="Print one JSON list of executions (no live output) on stdout."
        ),
    ] = False,
    keep_going: Annotated[
        bool, typer.Option("--keep-going", "-k", help="Run the next cells after one fails.")
    ] = False,
) -> None:
    """Run files as cells of one sandbox session: variables carry over from cell to cell.

    Exit status: 0 every cell ok, 1 a cell failed, 2 usage error, 3 no sandbox.
    """
    cells = _read_cells(files or [])
    try:
        limits = Limits() if timeout is None else Limits(timeout=timeout)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--timeout") from exc
    try:
        sandbox = open_sandbox(backend, limits=limits)
    except ConfigurationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--backend") from exc
    try:
        executions = run_sync(
            _run_cells(sandbox, cells, live=not json_output, keep_going=keep_going)
        )
    except RunpadError as exc:
        fail(f"The {backend} sandbox could not run the code.\n{exc}", EXIT_SANDBOX)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
    if json_output:
        typer.echo(json.dumps([execution.to_dict() for execution in executions], indent=2))
    failed = any(not execution.ok or execution.timed_out for execution in executions)
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


async def _run_cells(
    sandbox: Sandbox, cells: list[_Cell], *, live: bool, keep_going: bool
) -> list[Execution]:
    console = stderr_console()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await sandbox.start()
    for warning in caught:
        console.print(Text(f"Warning: {warning.message}", style="yellow"))
    output = _LiveOutput()
    executions: list[Execution] = []
    async with sandbox:
        for index, cell in enumerate(cells):
            execution = await sandbox.run(
                cell.code, language=cell.language, on_output=output.write if live else None
            )
            executions.append(execution)
            if live:
                output.finish()
                _print_execution(cell, execution, console)
            if not execution.ok and not keep_going and index + 1 < len(cells):
                skipped = len(cells) - index - 1
                console.print(
                    Text(
                        f"Skipped {skipped} remaining cell(s) after the failure in "
                        f"{cell.name} (--keep-going runs them).",
                        style="yellow",
                    )
                )
                break
    return executions


class _LiveOutput:
    """Writes a cell's output as it arrives, and ends each stream on a new line."""

    def __init__(self) -> None:
        self._open_line: set[str] = set()

    def write(self, chunk: OutputChunk) -> None:
        stream = sys.stdout if chunk.stream == "stdout" else sys.stderr
        stream.write(chunk.text)
        stream.flush()
        if chunk.text.endswith("\n"):
            self._open_line.discard(chunk.stream)
        elif chunk.text:
            self._open_line.add(chunk.stream)

    def finish(self) -> None:
        for name in sorted(self._open_line):
            (sys.stdout if name == "stdout" else sys.stderr).write("\n")
        self._open_line.clear()


def _print_execution(cell: _Cell, execution: Execution, console: Console) -> None:
    """Results on stdout (as a script's output would be); everything else on stderr."""
    for result in execution.results:
        text = result.text
        typer.echo(text if text is not None else f"[{', '.join(result.mime_types)}]")
    error = execution.error
    if error is not None:
        sys.stderr.write(f"{error}\n")
        if execution.timed_out:  # the traceback is the interrupt's; say why it came
            sys.stderr.write(f"{error.name}: {error.value}\n")
    if execution.restarted:
        console.print(
            Text("The kernel was restarted: variables from earlier cells are gone.", "yellow")
        )
    for stream, spill in (("stdout", execution.stdout_spill), ("stderr", execution.stderr_spill)):
        if spill is not None:
            console.print(Text(f"{stream} was truncated; the whole stream is in {spill}", "dim"))
    for artifact in execution.artifacts:
        console.print(
            Text(
                f"  artifact {artifact.name}  {format_size(artifact.size)}  {artifact.mime_type}  "
                f"sha256:{artifact.sha256}",
                style="dim",
            )
        )
    if execution.timed_out:
        status = Text("timed out", style="red")
    elif execution.error is not None:
        status = Text(execution.error.name, style="red")
    else:
        status = Text("ok", style="green")
    console.print(
        Text.assemble(
            (f"[{cell.name}] ", "bold"), status, (f" in {execution.duration_ms:.0f} ms", "dim")
        )
    )
