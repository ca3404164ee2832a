"""The `runpad` command.

`app` is the top-level command; each area of runpad adds its own sub-app or command to it
(`runpad run ...`, `runpad sandbox ...` here). Output meant for programs goes to stdout (an
answer, a cell's own output, `--json` documents); progress, warnings, errors and summaries go
to stderr.

Exit codes, the same for every command:

| code | meaning                                                                |
|------|------------------------------------------------------------------------|
| 0    | success; for a run: it answered                                        |
| 1    | the work failed: a cell raised or timed out, the sandbox is not        |
|      | isolated, the setup failed, a run hit an error (resume it)             |
| 2    | usage error: a bad option, a missing file, an unknown backend, model   |
|      | or thread, an unreachable database                                     |
| 3    | the sandbox could not start (the message says what to change)          |
| 4    | a run stopped without an answer: a limit, or its work kept failing     |
| 5    | a run's cell was rejected at approval                                  |
| 6    | a run waits for approval: `runpad resume THREAD --decision ...`        |
| 130  | interrupted (Ctrl-C)                                                   |
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, NoReturn

import click
import nbformat
import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from runpad import __version__
from runpad.context import Context, RunLimits
from runpad.demo import DEMO_LIMITS, DEMO_TASKS, DemoTask
from runpad.display import RunDisplay
from runpad.errors import ConfigurationError, RunpadError, SandboxError
from runpad.models import describe_model
from runpad.report import build_notebook, render_markdown, run_files
from runpad.report.html import open_in_browser, write_html, write_pdf
from runpad.runner import (
    EventHandler,
    RunResult,
    RunSummary,
    aget_run,
    alist_runs,
    aresume,
    arun,
    new_thread_id,
)
from runpad.sandbox.base import Sandbox
from runpad.sandbox.check import IsolationReport, Layer, check_isolation
from runpad.sandbox.environment import (
    default_environment_path,
    find_environment,
    setup_environment,
)
from runpad.sandbox.factory import BACKENDS, open_sandbox
from runpad.sandbox.limits import Limits
from runpad.sandbox.local import find_bwrap
from runpad.sandbox.results import Execution, OutputChunk
from runpad.sql.check import check_database, print_database_check, trust_role_warning
from runpad.state import ApprovalDecision

__all__ = [
    "EXIT_AWAITING",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_SANDBOX",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "app",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_SANDBOX: Final = 3
EXIT_STOPPED: Final = 4
EXIT_REJECTED: Final = 5
EXIT_AWAITING: Final = 6
EXIT_INTERRUPTED: Final = 130

app = typer.Typer(
    name="runpad",
    help="Let language models think in code: plan, write, run in a sandbox, review, repair.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold keys and user data
)
sandbox_app = typer.Typer(
    help="Set up, check and use the code sandbox.",
    no_args_is_help=True,
)
app.add_typer(sandbox_app, name="sandbox")


def _stderr() -> Console:
    # Made per call: CliRunner and redirections swap sys.stderr after import.
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def _stdout() -> Console:
    return Console(file=sys.stdout, highlight=False)


def _fail(message: str, code: int) -> NoReturn:
    _stderr().print(Text(f"Error: {message}", style="red"))
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"runpad {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Let language models think in code: plan, write, run in a sandbox, review, repair."""


# -- runpad sandbox setup ---------------------------------------------------------------------


@sandbox_app.command("setup")
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
    console = _stderr()
    try:
        environment = setup_environment(
            path, extra_packages=package or (), log=lambda line: console.print(Text(line))
        )
    except (RunpadError, OSError) as exc:
        _fail(f"The sandbox environment could not be set up.\n{exc}", EXIT_FAILED)
    console.print(
        Text(
            f"Done: {environment.path}. Run `runpad sandbox check` to see what the sandbox "
            "isolates on this machine."
        )
    )


# -- runpad sandbox docker-build ----------------------------------------------------------------


@sandbox_app.command("docker-build")
def sandbox_docker_build(
    tag: Annotated[str, typer.Option(help="The image's tag.")] = "runpad-sandbox:local",
    force: Annotated[bool, typer.Option(help="Rebuild even if the image is current.")] = False,
) -> None:
    """Build the docker backend's image from this machine's files (no registry needed)."""
    from runpad.sandbox.docker_image import build_local_image

    console = _stderr()
    try:
        build_local_image(tag=tag, force=force, log=lambda line: console.print(Text(line)))
    except (RunpadError, OSError) as exc:
        _fail(f"The docker image could not be built.\n{exc}", EXIT_FAILED)


# -- runpad sandbox check ---------------------------------------------------------------------


@sandbox_app.command("check")
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
        _print_report(report, _stdout())
    raise typer.Exit(EXIT_OK if report.isolated else EXIT_FAILED)


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


def _read_cells(files: list[str]) -> list[_Cell]:
    cells = []
    for name in files or ["-"]:
        if name == "-":
            if sys.stdin.isatty():
                _stderr().print("Reading code from standard input (Ctrl-D to end).")
            cells.append(_Cell("<stdin>", sys.stdin.read()))
            continue
        try:
            cells.append(_Cell(name, Path(name).read_text()))
        except FileNotFoundError as exc:
            raise typer.BadParameter(f"no such file: {name}", param_hint="FILE") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {name}: {exc}", param_hint="FILE") from exc
    return cells


@sandbox_app.command("run")
def sandbox_run(
    files: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="FILE",
            help="Python files, each run as one cell in the same session; '-' or none: "
            "standard input.",
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
        executions = asyncio.run(
            _run_cells(sandbox, cells, live=not json_output, keep_going=keep_going)
        )
    except RunpadError as exc:
        _fail(f"The {backend} sandbox could not run the code.\n{exc}", EXIT_SANDBOX)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    if json_output:
        typer.echo(json.dumps([execution.to_dict() for execution in executions], indent=2))
    failed = any(not execution.ok or execution.timed_out for execution in executions)
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


async def _run_cells(
    sandbox: Sandbox, cells: list[_Cell], *, live: bool, keep_going: bool
) -> list[Execution]:
    console = _stderr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await sandbox.start()
    for warning in caught:
        console.print(Text(f"Warning: {warning.message}", style="yellow"))
    output = _LiveOutput()
    executions: list[Execution] = []
    async with sandbox:
        for index, cell in enumerate(cells):
            execution = await sandbox.run(cell.code, on_output=output.write if live else None)
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
                f"  artifact {artifact.name}  {_size(artifact.size)}  {artifact.mime_type}  "
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


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


# -- runpad run / resume / threads / show / export / demo ----------------------------------------

_RUN_EXIT: dict[str, int] = {
    "answered": EXIT_OK,
    "failed": EXIT_FAILED,
    "stopped": EXIT_STOPPED,
    "rejected": EXIT_REJECTED,
    "awaiting_approval": EXIT_AWAITING,
}
_SETTINGS_FILE = "settings.json"
"""Written in a run's directory by `runpad run`: the settings `runpad resume` reuses."""

_ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="'local' (the embedded offline model), 'provider:model' (e.g. "
        "'openai:gpt-4.1') or 'replay:PATH' (default: $RUNPAD_MODEL, else local).",
        show_default=False,
    ),
]
_SandboxOption = Annotated[
    str | None,
    typer.Option(
        "--sandbox",
        help=f"Where code runs: {', '.join(BACKENDS)} (default: local). "
        "'unsafe-local' runs code WITHOUT isolation.",
        show_default=False,
    ),
]
_DatabaseOption = Annotated[
    list[str] | None,
    typer.Option(
        "--db",
        help="A database the run may query (read-only): a SQLAlchemy URL, or NAME=URL; "
        "repeat for more.",
        show_default=False,
    ),
]
_DbTrustRoleOption = Annotated[
    bool,
    typer.Option(
        "--db-trust-role",
        help="Query PostgreSQL as a role that can do more than read (superuser, owner, write "
        "grants) instead of refusing it; see `runpad db check`.",
    ),
]
_OutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        envvar="RUNPAD_RUNS",
        help="The runs directory: a folder per run (answer, report, notebook, artifacts) "
        "and the SQLite checkpoints.",
    ),
]
_CheckpointsOption = Annotated[
    str | None,
    typer.Option(
        "--checkpoints",
        envvar="RUNPAD_CHECKPOINTS",
        help="The checkpoint store: a PostgreSQL URL or a SQLite file "
        "(default: OUT/checkpoints.sqlite).",
        show_default=False,
    ),
]
_JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout, and nothing else.")
]
_QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress display: only the answer on stdout.")
]
_ThreadArgument = Annotated[str, typer.Argument(metavar="THREAD", help="The run's thread id.")]


@dataclass(frozen=True)
class _RunSettings:
    """What a run was started with; saved so that `runpad resume` goes on the same way."""

    model: str | None = None
    sandbox: str = "local"
    approve: bool = False
    record: str | None = None
    databases: tuple[str, ...] = ()  # names only: URLs may hold passwords
    samples: int = 1
    db_trust_role: bool = False


@dataclass(frozen=True)
class _Output:
    json: bool = False
    quiet: bool = False

    @property
    def interactive(self) -> bool:
        """Whether a person can answer at the approval prompt."""
        return not self.json and _stdin_is_terminal()


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


@dataclass(frozen=True)
class _Invocation:
    """One command's run: its context, where it is checkpointed, how it reports."""

    context: Context
    checkpoints: str | None
    thread_id: str
    output: _Output


_Start = Callable[[EventHandler], Awaitable[RunResult]]


# -- checks before a run starts ------------------------------------------------------------------


def _database_urls(values: list[str] | None) -> dict[str, str]:
    """`--db` values as the Context's `databases`: name -> URL."""
    databases: dict[str, str] = {}
    for value in values or []:
        name, sep, url = value.partition("=")
        if not sep or not name.isidentifier():  # a bare URL ("...?sslmode=require" too)
            name, url = _database_name(value, databases), value
        if name in databases:
            raise typer.BadParameter(f"two databases are named {name!r}", param_hint="--db")
        databases[name] = url
    return databases


def _database_name(url: str, taken: dict[str, str]) -> str:
    stem = Path(url.rsplit("/", 1)[-1].split("?")[0]).stem
    name = stem if stem.isidentifier() else "db"
    number = 1
    while (candidate := name if number == 1 else f"{name}{number}") in taken:
        number += 1
    return candidate


def _make_context(
    settings: _RunSettings,
    out: Path,
    databases: dict[str, str],
    limits: RunLimits | None = None,
) -> Context:
    """The run's Context, after checking all that can be checked before the run starts:
    the model string, the sandbox backend, and each database (by connecting to it)."""
    if settings.sandbox not in BACKENDS:
        _fail(
            f"Unknown sandbox {settings.sandbox!r}; choose one of: {', '.join(BACKENDS)}.",
            EXIT_USAGE,
        )
    try:
        context = Context(
            model=settings.model,
            sandbox=settings.sandbox,
            approve=settings.approve,
            run_dir=str(out),
            record=settings.record,
            databases=databases,
            trust_role=settings.db_trust_role,
            limits=limits or RunLimits(),
            samples=settings.samples,
        )
        context.model_for("coder")  # a bad model string fails here, not at the first call
    except ConfigurationError as exc:
        _fail(f"The run cannot start.\n{exc}", EXIT_USAGE)
    _check_sandbox(settings.sandbox)
    for name in databases:
        try:
            probe = context.database(name).run("SELECT 1")
        except RunpadError as exc:
            asyncio.run(context.aclose())
            _fail(f"Database {name!r} cannot be used: {exc}", EXIT_USAGE)
        if probe.error is not None:
            asyncio.run(context.aclose())
            _fail(
                f"Could not reach database {name!r}: {probe.error.name}: {probe.error.value}",
                EXIT_USAGE,
            )
    if settings.db_trust_role:  # one warning for the run, naming the privileged roles
        warning = trust_role_warning({name: context.database(name) for name in databases})
        if warning is not None:
            _stderr().print(Text(f"Warning: {warning}", style="yellow"))
    return context


def _check_sandbox(backend: str) -> None:
    """Fail now, with what to do, when the sandbox surely cannot start."""
    try:
        if backend == "local":
            find_bwrap()
        if backend in ("local", "unsafe-local"):
            find_environment()
        else:
            open_sandbox(backend)  # not started: only checks that the backend loads
    except RunpadError as exc:
        _fail(f"The {backend} sandbox cannot start here.\n{exc}", EXIT_SANDBOX)


def _save_settings(settings: _RunSettings, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / _SETTINGS_FILE).write_text(json.dumps(asdict(settings), indent=2) + "\n")


def _load_settings(directory: Path) -> _RunSettings:
    try:
        saved = json.loads((directory / _SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        return _RunSettings()  # a run started from Python: the defaults
    return _RunSettings(
        model=saved.get("model"),
        sandbox=saved.get("sandbox", "local"),
        approve=bool(saved.get("approve", False)),
        record=saved.get("record"),
        databases=tuple(saved.get("databases", ())),
        samples=int(saved.get("samples", 1)),
        db_trust_role=bool(saved.get("db_trust_role", False)),
    )


def _store_missing(checkpoints: str | None, out: Path) -> bool:
    """A default SQLite store that does not exist yet (reading it must not create it)."""
    return checkpoints is None and not (out / "checkpoints.sqlite").is_file()


def _load_run(thread_id: str, checkpoints: str | None, out: Path) -> RunResult:
    """The run as its checkpoints have it; exit 2 if there is none."""
    if _store_missing(checkpoints, out):
        _fail(f"No runs in {out} (no checkpoints.sqlite there); see --out.", EXIT_USAGE)
    try:
        return asyncio.run(aget_run(thread_id, checkpointer=checkpoints, run_dir=out))
    except ConfigurationError as exc:
        _fail(str(exc), EXIT_USAGE)


def _new_thread(thread_id: str | None, checkpoints: str | None, out: Path) -> str:
    if thread_id is None:
        return new_thread_id()
    if _store_missing(checkpoints, out):
        return thread_id
    try:
        asyncio.run(aget_run(thread_id, checkpointer=checkpoints, run_dir=out))
    except ConfigurationError as exc:
        if "No run with thread id" in str(exc):
            return thread_id
        _fail(str(exc), EXIT_USAGE)
    _fail(
        f"A run with thread id {thread_id!r} exists already: continue it with "
        f"`runpad resume {thread_id}`, or choose another id.",
        EXIT_USAGE,
    )


# -- driving a run ---------------------------------------------------------------------------------


def _execute(invocation: _Invocation, start: _Start) -> NoReturn:
    """Drive a run from the command line: errors become messages and exit codes."""
    result = _drive_sync(invocation, start)
    _finish(result, invocation.output)


def _drive_sync(invocation: _Invocation, start: _Start) -> RunResult:
    thread_id = invocation.thread_id
    try:
        return asyncio.run(_drive(invocation, start))
    except KeyboardInterrupt:
        _fail(f"Interrupted. Continue with `runpad resume {thread_id}`.", EXIT_INTERRUPTED)
    except SandboxError as exc:
        _fail(f"The {invocation.context.sandbox} sandbox failed.\n{exc}", EXIT_SANDBOX)
    except ConfigurationError as exc:
        _fail(str(exc), EXIT_USAGE)
    except Exception as exc:  # the model's API, a bug: the checkpoints keep what was done
        _fail(
            f"The run failed: {type(exc).__name__}: {exc}\n"
            f"What was done is saved; `runpad resume {thread_id}` goes on from there.",
            EXIT_FAILED,
        )


async def _drive(invocation: _Invocation, start: _Start) -> RunResult:
    """Run; at each approval, ask the person at the terminal, when there is one."""
    output = invocation.output
    console = _stderr()
    call = start
    try:
        while True:
            if output.quiet or output.json:
                result = await call(_ignore_event)
            else:
                with RunDisplay(console, live=console.is_terminal) as display:
                    result = await call(display.handle)
            if result.status != "awaiting_approval" or not output.interactive:
                return result
            decision = await asyncio.to_thread(_ask_decision, result, console)
            call = _resume_with(invocation, decision)
    finally:
        await invocation.context.aclose()


def _ignore_event(mode: str, chunk: Any) -> None:
    return None


def _resume_with(invocation: _Invocation, decision: ApprovalDecision | None) -> _Start:
    async def call(handler: EventHandler) -> RunResult:
        return await aresume(
            invocation.thread_id,
            decision=decision,
            context=invocation.context,
            checkpointer=invocation.checkpoints,
            on_event=handler,
        )

    return call


def _ask_decision(result: RunResult, console: Console) -> ApprovalDecision:
    """Show the cell that waits, and ask: approve, edit (in $EDITOR) or reject (and why)."""
    pending = result.pending_approval
    assert pending is not None  # the run waits for approval
    language = pending["language"]
    console.print(
        Panel(
            Syntax(
                pending["code"].rstrip(),
                "bash" if language == "shell" else language,
                word_wrap=True,
            ),
            title=f"approve? step {pending['step']}: {pending['description']}",
            title_align="left",
            border_style="yellow",
        )
    )
    while True:
        answer = typer.prompt("[a]pprove, [e]dit, [r]eject", default="a", err=True)
        choice = answer.strip().lower()[:1]
        if choice == "a":
            return {"action": "approve"}
        if choice == "e":
            suffix = ".sh" if language == "shell" else ".py"
            edited = click.edit(pending["code"], extension=suffix, require_save=True)
            if edited is None or not edited.strip():
                console.print(Text("Nothing saved: the cell stays as it was.", style="yellow"))
                continue
            return {"action": "edit", "code": edited}
        if choice == "r":
            reason = typer.prompt("Why (it goes in the report)", err=True)
            return {"action": "reject", "reason": reason}


def _finish(result: RunResult, output: _Output, *, displayed: bool = True) -> NoReturn:
    """Print the outcome (the answer on stdout) and exit with the run's status code.

    `displayed`: the progress display showed the run, its stop reason included."""
    code = _RUN_EXIT[result.status]
    files = run_files(result.output_dir) if result.output_dir else None
    if output.json:
        document: dict[str, Any] = asdict(result)
        document["exit_code"] = code
        if files is not None:
            document["answer_file"] = str(files.answer)
            document["report"] = str(files.report)
            document["html_report"] = str(files.html)
            document["notebook"] = str(files.notebook)
        typer.echo(json.dumps(document, indent=2, default=str))
        raise typer.Exit(code)
    console = _stderr()
    if result.status == "awaiting_approval":
        pending = result.pending_approval
        assert pending is not None  # the run waits for approval
        console.print(Panel(pending["code"].rstrip(), title="the cell that waits"))
        thread = result.thread_id
        console.print(
            Text(
                "The run waits for a decision on this cell. Give it with one of:\n"
                f"  runpad resume {thread} --decision approve\n"
                f"  runpad resume {thread} --decision edit --code-file CELL.py\n"
                f"  runpad resume {thread} --decision reject --reason 'why'",
                style="yellow",
            )
        )
        raise typer.Exit(code)
    if not output.quiet:
        console.print(
            Text.assemble(
                ("\n" + result.status, "bold green" if result.ok else "bold red"),
                f"  thread {result.thread_id}, {len(result.cells)} cell(s), "
                f"{result.tokens} model tokens",
            )
        )
        if files is not None:
            console.print(
                Text(
                    f"report:   {files.report}\nhtml:     {files.html}\nnotebook: {files.notebook}"
                )
            )
    if result.stop_reason and not result.ok and (output.quiet or not displayed):
        console.print(Text(result.stop_reason, style="red"))
    if result.answer:
        typer.echo(result.answer.strip())
    raise typer.Exit(code)


_EXIT_CODES_HELP = (
    "Exit status: 0 answered; 1 the run failed (an error; resume it); 2 usage error (a "
    "missing file, an unknown model or thread, an unreachable database); 3 the sandbox "
    "cannot start; 4 stopped without an answer (a limit, or the work kept failing); "
    "5 a cell was rejected; 6 waiting for approval (`runpad resume`); 130 interrupted."
)


@app.command(
    "run", help=f"Answer a task by writing code and running it in a sandbox.\n\n{_EXIT_CODES_HELP}"
)
def run_command(
    task: Annotated[str, typer.Argument(help="The question or job, in words.")],
    file: Annotated[
        list[Path] | None,
        typer.Option(
            "--file", "-f", help="A file to put in the sandbox's work dir; repeat for more."
        ),
    ] = None,
    db: _DatabaseOption = None,
    db_trust_role: _DbTrustRoleOption = False,
    model: _ModelOption = None,
    sandbox: _SandboxOption = None,
    thread: Annotated[
        str | None,
        typer.Option(help="The run's thread id (default: a new one).", show_default=False),
    ] = None,
    approve: Annotated[
        bool, typer.Option("--approve", help="Ask before each cell runs: approve, edit, reject.")
    ] = False,
    out: _OutOption = Path("runs"),
    checkpoints: _CheckpointsOption = None,
    json_output: _JsonOption = False,
    quiet: _QuietOption = False,
    record: Annotated[
        Path | None,
        typer.Option(help="Record every model reply to this file (replay: -m replay:PATH)."),
    ] = None,
    samples: Annotated[
        int,
        typer.Option(
            min=1,
            help="Write each Python step this many times and keep the answer most of the "
            "programs print (a vote; helps small models).",
        ),
    ] = 1,
) -> None:
    if not task.strip():
        _fail("The task is empty: say what runpad should find out.", EXIT_USAGE)
    files = [path.resolve() for path in file or []]
    if missing := [str(path) for path in files if not path.is_file()]:
        _fail(f"Input file(s) not found: {', '.join(missing)}", EXIT_USAGE)
    databases = _database_urls(db)
    settings = _RunSettings(
        model=model,
        sandbox=sandbox or "local",
        approve=approve,
        record=str(record) if record else None,
        databases=tuple(databases),
        samples=samples,
        db_trust_role=db_trust_role,
    )
    thread_id = _new_thread(thread, checkpoints, out)
    context = _make_context(settings, out, databases)
    _save_settings(settings, out / thread_id)

    async def start(handler: EventHandler) -> RunResult:
        return await arun(
            task,
            files=files,
            thread_id=thread_id,
            context=context,
            checkpointer=checkpoints,
            on_event=handler,
        )

    _execute(_Invocation(context, checkpoints, thread_id, _Output(json_output, quiet)), start)


@app.command(
    "resume",
    help="Continue a run: after a crash or an interrupt, or with a decision "
    f"on the cell that waits for approval.\n\n{_EXIT_CODES_HELP}",
)
def resume_command(
    thread_id: _ThreadArgument,
    decision: Annotated[
        str | None,
        typer.Option(
            help="The decision on the cell that waits: approve, edit (with --code-file) or "
            "reject (with --reason) (default: ask, at a terminal).",
            show_default=False,
        ),
    ] = None,
    code_file: Annotated[
        Path | None, typer.Option(help="The edited cell, with --decision edit ('-': stdin).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why, with --decision reject.")] = None,
    approve: Annotated[
        bool | None,
        typer.Option(
            "--approve/--no-approve",
            help="Ask before each later cell (default: as the run was started).",
            show_default=False,
        ),
    ] = None,
    db: _DatabaseOption = None,
    db_trust_role: _DbTrustRoleOption = False,
    model: _ModelOption = None,
    sandbox: _SandboxOption = None,
    out: _OutOption = Path("runs"),
    checkpoints: _CheckpointsOption = None,
    json_output: _JsonOption = False,
    quiet: _QuietOption = False,
) -> None:
    answer = _decision(decision, code_file, reason)
    result = _load_run(thread_id, checkpoints, out)
    output = _Output(json_output, quiet)
    if answer is not None and result.status != "awaiting_approval":
        _fail(f"Run {thread_id} does not wait for a decision (it is {result.status}).", EXIT_USAGE)
    if result.status in ("answered", "stopped", "rejected"):
        _stderr().print(Text(f"Run {thread_id} has finished; nothing to resume.", style="dim"))
        _finish(result, output, displayed=False)
    if result.status == "awaiting_approval" and answer is None:
        if not output.interactive:
            _finish(result, output, displayed=False)
        answer = _ask_decision(result, _stderr())
    saved = _load_settings(out / thread_id)
    databases = _database_urls(db)
    if missing := [name for name in saved.databases if name not in databases]:
        _fail(
            f"The run used database(s) {', '.join(missing)}; give them again with "
            "--db NAME=URL (URLs are not saved: they may hold passwords).",
            EXIT_USAGE,
        )
    settings = _RunSettings(
        model=model or saved.model,
        sandbox=sandbox or saved.sandbox,
        approve=saved.approve if approve is None else approve,
        record=saved.record,
        databases=tuple(databases),
        samples=saved.samples,
        db_trust_role=db_trust_role or saved.db_trust_role,
    )
    context = _make_context(settings, out, databases)
    invocation = _Invocation(context, checkpoints, thread_id, output)
    _execute(invocation, _resume_with(invocation, answer))


def _decision(
    decision: str | None, code_file: Path | None, reason: str | None
) -> ApprovalDecision | None:
    if decision is None:
        if code_file is not None or reason is not None:
            _fail("--code-file and --reason go with --decision edit / reject.", EXIT_USAGE)
        return None
    if decision == "approve":
        return {"action": "approve"}
    if decision == "reject":
        return {"action": "reject", "reason": reason or "rejected from the command line"}
    if decision == "edit":
        if code_file is None:
            _fail("--decision edit needs the edited cell: --code-file CELL.py", EXIT_USAGE)
        try:
            code = sys.stdin.read() if str(code_file) == "-" else code_file.read_text()
        except OSError as exc:
            _fail(f"Cannot read {code_file}: {exc}", EXIT_USAGE)
        if not code.strip():
            _fail(f"{code_file} is empty.", EXIT_USAGE)
        return {"action": "edit", "code": code}
    _fail(f"Unknown decision {decision!r}: approve, edit or reject.", EXIT_USAGE)


@app.command("threads")
def threads_command(
    out: _OutOption = Path("runs"),
    checkpoints: _CheckpointsOption = None,
    json_output: _JsonOption = False,
) -> None:
    """List the runs of a checkpoint store, the latest first, with status and age."""
    if _store_missing(checkpoints, out):
        runs: list[RunSummary] = []
    else:
        try:
            runs = asyncio.run(alist_runs(checkpointer=checkpoints, run_dir=out))
        except ConfigurationError as exc:
            _fail(str(exc), EXIT_USAGE)
    if json_output:
        typer.echo(json.dumps([asdict(run) for run in runs], indent=2, default=str))
        return
    if not runs:
        _stderr().print(Text(f"No runs in {checkpoints or out} yet.", style="dim"))
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("thread", "status", "age", "cells", "task"):
        table.add_column(column, no_wrap=column != "task")
    now = datetime.now(UTC)
    for run in runs:
        style = {"answered": "green", "awaiting_approval": "yellow"}.get(run.status, "red")
        table.add_row(
            run.thread_id,
            Text(run.status, style=style),
            _age(now - run.updated_at),
            str(run.cells),
            " ".join(run.task.split())[:80],
        )
    _stdout().print(table)


def _age(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


@app.command("show")
def show_command(
    thread_id: _ThreadArgument,
    out: _OutOption = Path("runs"),
    checkpoints: _CheckpointsOption = None,
    json_output: _JsonOption = False,
    open_page: Annotated[
        bool, typer.Option("--open", help="Open the run's HTML report in your browser instead.")
    ] = False,
) -> None:
    """Show a run: its plan, each cell with its output, and the answer."""
    result = _load_run(thread_id, checkpoints, out)
    if open_page:
        _open_report(result)
        return
    if json_output:
        typer.echo(json.dumps(asdict(result), indent=2, default=str))
        return
    _stdout().print(Markdown(render_markdown(result)))


@app.command("export")
def export_command(
    thread_id: _ThreadArgument,
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
    out: _OutOption = Path("runs"),
    checkpoints: _CheckpointsOption = None,
) -> None:
    """Write a run as a Jupyter notebook (its executed cells and outputs) or a report
    (Markdown, HTML or PDF)."""
    if notebook is None and markdown is None and html is None and pdf is None:
        _fail(
            "Say what to write: --notebook, --markdown, --html and/or --pdf, each with a PATH.",
            EXIT_USAGE,
        )
    result = _load_run(thread_id, checkpoints, out)
    console = _stderr()
    try:
        if notebook is not None:
            notebook.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(build_notebook(result), str(notebook))
            console.print(Text(f"notebook: {notebook}"))
        if markdown is not None:
            markdown.parent.mkdir(parents=True, exist_ok=True)
            markdown.write_text(render_markdown(result, markdown.parent), encoding="utf-8")
            console.print(Text(f"report:   {markdown}"))
        if html is not None:
            console.print(Text(f"html:     {write_html(result, html)}"))
        if pdf is not None:
            console.print(Text(f"pdf:      {write_pdf(result, pdf)}"))
    except OSError as exc:
        _fail(f"Could not write: {exc}", EXIT_FAILED)
    except ConfigurationError as exc:  # no Chromium for the PDF
        _fail(str(exc), EXIT_USAGE)
    except RunpadError as exc:
        _fail(str(exc), EXIT_FAILED)


def _open_report(result: RunResult) -> None:
    """Write the run's HTML report in its folder (runs from before it existed have none) and
    open it in the user's browser."""
    if result.output_dir is None:
        _fail("The run has no folder to write its report in.", EXIT_FAILED)
    try:
        page = write_html(result, run_files(result.output_dir).html)
    except OSError as exc:
        _fail(f"Could not write the report: {exc}", EXIT_FAILED)
    if not open_in_browser(page):
        _fail(f"No browser could be started here; open {page} yourself.", EXIT_FAILED)
    _stderr().print(Text(f"opened {page}"))


@app.command("demo")
def demo_command(
    model: _ModelOption = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where the demo's runs and reports go.")
    ] = Path("runs/demo"),
    quiet: _QuietOption = False,
) -> None:
    """Answer a few questions and analyse a bundled CSV, offline; a report of each.

    The embedded defaults: the local model, the local sandbox, SQLite checkpoints.

    Exit status: 0 the demo ran (the model may still fail to answer: it is small, and
    says so); 2 no usable model; 3 the sandbox cannot start.
    """
    settings = _RunSettings(model=model)
    embedded = (model or os.environ.get("RUNPAD_MODEL") or "local") == "local"
    context = _make_context(settings, out, {}, limits=DEMO_LIMITS)
    console = _stderr()
    output = _Output(quiet=quiet)
    if not quiet:
        intro = (
            f"{len(DEMO_TASKS)} questions, answered by the {describe_model(model)} model "
            "writing Python that runs in the local sandbox (no network)."
        )
        if embedded:
            intro += (
                "\nThe embedded model (SmolLM2, 135M parameters) is tiny and often wrong, so "
                "each answer comes with the code that produced it and what that code printed: "
                "check them. A provider model (--model openai:gpt-4.1, ...) does real work."
            )
        console.print(Panel(Text(intro), title="runpad demo", title_align="left"), soft_wrap=False)
    results: list[tuple[DemoTask, RunResult]] = []
    for number, demo in enumerate(DEMO_TASKS, 1):
        if not quiet:
            files = ", ".join(path.name for path in demo.files)
            title = f"{number}/{len(DEMO_TASKS)}  {demo.task}" + (f"  ({files})" if files else "")
            console.rule(Text(title, style="bold"))
        thread_id = new_thread_id()
        _save_settings(settings, out / thread_id)

        async def start(
            handler: EventHandler, demo: DemoTask = demo, thread: str = thread_id
        ) -> RunResult:
            return await arun(
                demo.task, files=demo.files, thread_id=thread, context=context, on_event=handler
            )

        invocation = _Invocation(context, None, thread_id, output)
        results.append((demo, _drive_sync(invocation, start)))
        # Each run closes the context's sessions when it ends; the next starts afresh.
    _print_demo_summary(results, console, quiet)


def _print_demo_summary(
    results: list[tuple[DemoTask, RunResult]], console: Console, quiet: bool
) -> None:
    table = Table(title="runpad demo", title_justify="left", show_lines=True)
    for column in ("question", "status", "the model's answer", "what the code printed"):
        table.add_column(column, overflow="fold")
    for demo, result in results:
        answer = result.answer or f"(none: {result.stop_reason or result.status})"
        table.add_row(
            demo.task, result.status, _clip_text(answer, 200), _clip_text(_computed(result), 200)
        )
    (console if not quiet else _stdout()).print(table, soft_wrap=False)
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


def _clip_text(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- runpad mcp (runpad/mcp/cli.py, imported when the command runs: the SDK is an extra) --------


@app.command(
    "mcp",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
    help="Serve runpad to MCP clients over stdio or HTTP (`runpad mcp --help`).",
)
def mcp_command(ctx: typer.Context) -> None:
    from runpad.mcp.cli import main as mcp_main

    mcp_main(ctx.args)


# -- runpad eval (the evaluation harness lives in runpad/evaluation/cli.py) -------------------

from runpad.evaluation.cli import eval_command  # noqa: E402  (its own section, on purpose)

app.command("eval")(eval_command)


# -- runpad db check (the check and its rendering live in runpad/sql/check.py) ---------------

db_app = typer.Typer(help="Check the databases runpad may query.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("check")
def db_check(
    url: Annotated[str, typer.Argument(metavar="URL", help="A SQLAlchemy database URL.")],
    json_output: _JsonOption = False,
) -> None:
    """Connect as runpad would and print what the database user can do beyond reading.

    Exit status: 0 read-only, 1 more than a reader (or not verifiable, or unreachable).
    """
    try:
        check = check_database(url)
    except ConfigurationError as exc:
        _fail(str(exc), EXIT_USAGE)
    if json_output:
        typer.echo(json.dumps(check.to_dict(), indent=2))
    else:
        print_database_check(check, _stdout())
    raise typer.Exit(EXIT_OK if check.read_only else EXIT_FAILED)


if __name__ == "__main__":
    app(prog_name="runpad")
