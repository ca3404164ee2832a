"""`runpad run` and `runpad resume`: drive a run from the command line, with its progress
display, the approval prompt at a terminal, and an exit code for each way a run ends."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import typer
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from runpad.bridge import run_sync
from runpad.cells import file_suffix, lexer_name
from runpad.cli.options import (
    CheckpointsOption,
    DatabaseOption,
    DbTrustRoleOption,
    JsonOption,
    ModelOption,
    OutOption,
    QuietOption,
    SandboxOption,
    ThreadArgument,
)
from runpad.cli.output import (
    EXIT_AWAITING,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_SANDBOX,
    EXIT_STOPPED,
    EXIT_USAGE,
    fail,
    stderr_console,
)
from runpad.cli.threads import find_run, load_run, store_missing
from runpad.context import Context, RunLimits
from runpad.display import RunDisplay
from runpad.errors import (
    ConfigurationError,
    ModelUnavailable,
    RunNotFound,
    RunpadError,
    SandboxError,
)
from runpad.report import run_files
from runpad.runner import EventHandler, aresume, arun, new_thread_id
from runpad.runs import RunResult
from runpad.sandbox.factory import BACKENDS, check_can_start
from runpad.sql import named_database_urls
from runpad.sql.check import trust_role_warning
from runpad.state import ApprovalDecision

__all__ = [
    "Invocation",
    "Output",
    "RunSettings",
    "app",
    "drive_sync",
    "make_context",
    "save_settings",
]

app = typer.Typer()


_RUN_EXIT: dict[str, int] = {
    "answered": EXIT_OK,
    "failed": EXIT_FAILED,
    "stopped": EXIT_STOPPED,
    "rejected": EXIT_REJECTED,
    "awaiting_approval": EXIT_AWAITING,
}
_SETTINGS_FILE = "settings.json"
"""Written in a run's directory by `runpad run`: the settings `runpad resume` reuses."""


@dataclass(frozen=True)
class RunSettings:
    """What a run was started with; saved so that `runpad resume` goes on the same way."""

    model: str | None = None
    sandbox: str = "local"
    approve: bool = False
    record: str | None = None
    databases: tuple[str, ...] = ()  # names only: URLs may hold passwords
    samples: int = 1
    db_trust_role: bool = False


@dataclass(frozen=True)
class Output:
    json: bool = False
    quiet: bool = False

    @property
    def interactive(self) -> bool:
        """Whether a person can answer at the approval prompt."""
        return not self.json and _stdin_is_terminal()


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


@dataclass(frozen=True)
class Invocation:
    """One command's run: its context, where it is checkpointed, how it reports."""

    context: Context
    checkpoints: str | None
    thread_id: str
    output: Output


_Start = Callable[[EventHandler], Awaitable[RunResult]]


# -- checks before a run starts ------------------------------------------------------------------


def _database_urls(values: list[str] | None) -> dict[str, str]:
    """`--db` values as the Context's `databases`: name -> URL."""
    try:
        return named_database_urls(values or [])
    except ConfigurationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--db") from exc


def make_context(
    settings: RunSettings,
    out: Path,
    databases: dict[str, str],
    limits: RunLimits | None = None,
) -> Context:
    """The run's Context, after checking all that can be checked before the run starts:
    the model string, the sandbox backend, and each database (by connecting to it)."""
    if settings.sandbox not in BACKENDS:
        fail(
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
    except ModelUnavailable as exc:  # weights missing, corrupt, unreadable or too big
        fail(str(exc), EXIT_SANDBOX)
    except ConfigurationError as exc:
        fail(f"The run cannot start.\n{exc}", EXIT_USAGE)
    _check_sandbox(settings.sandbox)
    for name in databases:
        try:
            probe = context.database(name).run("SELECT 1")
        except RunpadError as exc:
            run_sync(context.aclose())
            fail(f"Database {name!r} cannot be used: {exc}", EXIT_USAGE)
        if probe.error is not None:
            run_sync(context.aclose())
            fail(
                f"Could not reach database {name!r}: {probe.error.name}: {probe.error.value}",
                EXIT_USAGE,
            )
    if settings.db_trust_role:  # one warning for the run, naming the privileged roles
        warning = trust_role_warning({name: context.database(name) for name in databases})
        if warning is not None:
            stderr_console().print(Text(f"Warning: {warning}", style="yellow"))
    return context


def _check_sandbox(backend: str) -> None:
    """Fail now, with what to do, when the sandbox surely cannot start."""
    try:
        check_can_start(backend)
    except RunpadError as exc:
        fail(f"The {backend} sandbox cannot start here.\n{exc}", EXIT_SANDBOX)


def save_settings(settings: RunSettings, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / _SETTINGS_FILE).write_text(json.dumps(asdict(settings), indent=2) + "\n")


def _load_settings(directory: Path) -> RunSettings:
    try:
        saved = json.loads((directory / _SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        return RunSettings()  # a run started from Python: the defaults
    return RunSettings(
        model=saved.get("model"),
        sandbox=saved.get("sandbox", "local"),
        approve=bool(saved.get("approve", False)),
        record=saved.get("record"),
        databases=tuple(saved.get("databases", ())),
        samples=int(saved.get("samples", 1)),
        db_trust_role=bool(saved.get("db_trust_role", False)),
    )


def _new_thread(thread_id: str | None, checkpoints: str | None, out: Path) -> str:
    if thread_id is None:
        return new_thread_id()
    if store_missing(checkpoints, out):
        return thread_id
    try:
        find_run(thread_id, checkpoints, out)
    except RunNotFound:
        return thread_id
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE)
    fail(
        f"A run with thread id {thread_id!r} exists already: continue it with "
        f"`runpad resume {thread_id}`, or choose another id.",
        EXIT_USAGE,
    )


# -- driving a run ---------------------------------------------------------------------------------


def _execute(invocation: Invocation, start: _Start) -> NoReturn:
    """Drive a run from the command line: errors become messages and exit codes."""
    result = drive_sync(invocation, start)
    _finish(result, invocation.output)


def drive_sync(invocation: Invocation, start: _Start) -> RunResult:
    thread_id = invocation.thread_id
    try:
        return run_sync(_drive(invocation, start))
    except KeyboardInterrupt:
        fail(f"Interrupted. Continue with `runpad resume {thread_id}`.", EXIT_INTERRUPTED)
    except SandboxError as exc:
        fail(f"The {invocation.context.sandbox} sandbox failed.\n{exc}", EXIT_SANDBOX)
    except ModelUnavailable as exc:
        fail(str(exc), EXIT_SANDBOX)
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE)
    except Exception as exc:  # the model's API, a bug: the checkpoints keep what was done
        fail(
            f"The run failed: {type(exc).__name__}: {exc}\n"
            f"What was done is saved; `runpad resume {thread_id}` goes on from there.",
            EXIT_FAILED,
        )


async def _drive(invocation: Invocation, start: _Start) -> RunResult:
    """Run; at each approval, ask the person at the terminal, when there is one."""
    output = invocation.output
    console = stderr_console()
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


def _resume_with(invocation: Invocation, decision: ApprovalDecision | None) -> _Start:
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
                lexer_name(language),
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
            edited = click.edit(pending["code"], extension=file_suffix(language), require_save=True)
            if edited is None or not edited.strip():
                console.print(Text("Nothing saved: the cell stays as it was.", style="yellow"))
                continue
            return {"action": "edit", "code": edited}
        if choice == "r":
            reason = typer.prompt("Why (it goes in the report)", err=True)
            return {"action": "reject", "reason": reason}


def _finish(result: RunResult, output: Output, *, displayed: bool = True) -> NoReturn:
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
    console = stderr_console()
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
    db: DatabaseOption = None,
    db_trust_role: DbTrustRoleOption = False,
    model: ModelOption = None,
    sandbox: SandboxOption = None,
    thread: Annotated[
        str | None,
        typer.Option(help="The run's thread id (default: a new one).", show_default=False),
    ] = None,
    approve: Annotated[
        bool, typer.Option("--approve", help="Ask before each cell runs: approve, edit, reject.")
    ] = False,
    out: OutOption = Path("runs"),
    checkpoints: CheckpointsOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
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
        fail("The task is empty: say what runpad should find out.", EXIT_USAGE)
    files = [path.resolve() for path in file or []]
    if missing := [str(path) for path in files if not path.is_file()]:
        fail(f"Input file(s) not found: {', '.join(missing)}", EXIT_USAGE)
    databases = _database_urls(db)
    settings = RunSettings(
        model=model,
        sandbox=sandbox or "local",
        approve=approve,
        record=str(record) if record else None,
        databases=tuple(databases),
        samples=samples,
        db_trust_role=db_trust_role,
    )
    thread_id = _new_thread(thread, checkpoints, out)
    context = make_context(settings, out, databases)
    save_settings(settings, out / thread_id)

    async def start(handler: EventHandler) -> RunResult:
        return await arun(
            task,
            files=files,
            thread_id=thread_id,
            context=context,
            checkpointer=checkpoints,
            on_event=handler,
        )

    _execute(Invocation(context, checkpoints, thread_id, Output(json_output, quiet)), start)


@app.command(
    "resume",
    help="Continue a run: after a crash or an interrupt, or with a decision "
    f"on the cell that waits for approval.\n\n{_EXIT_CODES_HELP}",
)
def resume_command(
    thread_id: ThreadArgument,
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
    db: DatabaseOption = None,
    db_trust_role: DbTrustRoleOption = False,
    model: ModelOption = None,
    sandbox: SandboxOption = None,
    out: OutOption = Path("runs"),
    checkpoints: CheckpointsOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    answer = _decision(decision, code_file, reason)
    result = load_run(thread_id, checkpoints, out)
    output = Output(json_output, quiet)
    if answer is not None and result.status != "awaiting_approval":
        fail(f"Run {thread_id} does not wait for a decision (it is {result.status}).", EXIT_USAGE)
    if result.status in ("answered", "stopped", "rejected"):
        stderr_console().print(
            Text(f"Run {thread_id} has finished; nothing to resume.", style="dim")
        )
        _finish(result, output, displayed=False)
    if result.status == "awaiting_approval" and answer is None:
        if not output.interactive:
            _finish(result, output, displayed=False)
        answer = _ask_decision(result, stderr_console())
    saved = _load_settings(out / thread_id)
    databases = _database_urls(db)
    if missing := [name for name in saved.databases if name not in databases]:
        fail(
            f"The run used database(s) {', '.join(missing)}; give them again with "
            "--db NAME=URL (URLs are not saved: they may hold passwords).",
            EXIT_USAGE,
        )
    settings = RunSettings(
        model=model or saved.model,
        sandbox=sandbox or saved.sandbox,
        approve=saved.approve if approve is None else approve,
        record=saved.record,
        databases=tuple(databases),
        samples=saved.samples,
        db_trust_role=db_trust_role or saved.db_trust_role,
    )
    context = make_context(settings, out, databases)
    invocation = Invocation(context, checkpoints, thread_id, output)
    _execute(invocation, _resume_with(invocation, answer))


def _decision(
    decision: str | None, code_file: Path | None, reason: str | None
) -> ApprovalDecision | None:
    if decision is None:
        if code_file is not None or reason is not None:
            fail("--code-file and --reason go with --decision edit / reject.", EXIT_USAGE)
        return None
    if decision == "approve":
        return {"action": "approve"}
    if decision == "reject":
        return {"action": "reject", "reason": reason or "rejected from the command line"}
    if decision == "edit":
        if code_file is None:
            fail("--decision edit needs the edited cell: --code-file CELL.py", EXIT_USAGE)
        try:
            code = sys.stdin.read() if str(code_file) == "-" else code_file.read_text()
        except OSError as exc:
            fail(f"Cannot read {code_file}: {exc}", EXIT_USAGE)
        if not code.strip():
            fail(f"{code_file} is empty.", EXIT_USAGE)
        return {"action": "edit", "code": code}
    fail(f"Unknown decision {decision!r}: approve, edit or reject.", EXIT_USAGE)
