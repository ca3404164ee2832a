"""The `runpad` command.

`app` is the top-level command. Each command (or group of commands) lives in its own module
and is listed in `COMMANDS` below, the one place to register a new one; its module is
imported only when that command runs (or shows its own `--help`), so that `runpad --version`,
`runpad --help` and `runpad threads` do not pay for importing LangGraph, LangChain and the
sandbox (`tests/unit/test_lazy_imports.py` keeps it so). Output meant for programs goes to
stdout (an answer, a cell's own output, `--json` documents); progress, warnings, errors and
summaries go to stderr.

Exit codes, the same for every command:

| code | meaning                                                                |
|------|------------------------------------------------------------------------|
| 0    | success; for a run: it answered                                        |
| 1    | the work failed: a cell raised or timed out, the sandbox is not        |
|      | isolated, the setup failed, a run hit an error (resume it)             |
| 2    | usage error: a bad option, a missing file, an unknown backend, model   |
|      | or thread, an unreachable database                                     |
| 3    | the sandbox could not start, or the local model's weights are missing, |
|      | corrupt, unreadable or too big (the message says what to change)       |
| 4    | a run stopped without an answer: a limit, or its work kept failing     |
| 5    | a run's cell was rejected at approval                                  |
| 6    | a run waits for approval: `runpad resume THREAD --decision ...`        |
| 130  | interrupted (Ctrl-C)                                                   |
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
from typer.core import TyperCommand, TyperGroup

from runpad import __version__
from runpad.cli.output import (
    EXIT_AWAITING,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_SANDBOX,
    EXIT_STOPPED,
    EXIT_USAGE,
)

if TYPE_CHECKING:  # the click that typer builds on (recent typers vendor their own copy)
    from typer._click import Command, Context, HelpFormatter

__all__ = [
    "COMMANDS",
    "EXIT_AWAITING",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_SANDBOX",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "LazyCommand",
    "app",
]


@dataclass(frozen=True)
class LazyCommand:
    """A command of `runpad` whose module is imported only when it is used.

    The module has an `app` (a `typer.Typer`): either a group named like the command (as
    `runpad sandbox ...`), or a Typer whose commands include this one (as `runpad run`).
    """

    module: str
    summary: str
    """The line `runpad --help` shows (a test checks that it is the command's own)."""

    def load(self, name: str) -> Command:
        sub_app: typer.Typer = importlib.import_module(self.module).app
        group = typer.main.get_group(sub_app)
        if sub_app.info.name == name:
            return group
        return group.commands[name]


COMMANDS: Final[dict[str, LazyCommand]] = {
    "run": LazyCommand(
        "runpad.cli.runs", "Answer a task by writing code and running it in a sandbox."
    ),
    "resume": LazyCommand(
        "runpad.cli.runs",
        "Continue a run: after a crash or an interrupt, or with a decision on the cell that "
        "waits for approval.",
    ),
    "threads": LazyCommand(
        "runpad.cli.threads",
        "List the runs of a checkpoint store, the latest first, with status and age.",
    ),
    "show": LazyCommand(
        "runpad.cli.threads", "Show a run: its plan, each cell with its output, and the answer."
    ),
    "export": LazyCommand(
        "runpad.cli.threads",
        "Write a run as a Jupyter notebook (its executed cells and outputs) or a report "
        "(Markdown, HTML or PDF).",
    ),
    "demo": LazyCommand(
        "runpad.cli.demo",
        "Answer a few questions and analyse a bundled CSV, offline; a report of each.",
    ),
    "sandbox": LazyCommand("runpad.cli.sandbox", "Set up, check and use the code sandbox."),
    "db": LazyCommand("runpad.cli.db", "Check the databases runpad may query."),
    "mcp": LazyCommand(
        "runpad.cli.mcp",
        "Serve runpad to MCP clients over stdio or HTTP (`runpad mcp --help`).",
    ),
    "batch": LazyCommand(
        "runpad.cli.batch",
        "Run every task of a JSON Lines file on a Ray cluster, each as a checkpointed run.",
    ),
    "eval": LazyCommand(
        "runpad.cli.evaluation",
        "Run a benchmark suite through runpad and score it with the suite's own checker.",
    ),
}
"""Every command of `runpad`, in the order `runpad --help` lists them."""

_SUMMARIES_ONLY = "runpad.summaries_only"


class _LazyGroup(TyperGroup):
    """Holds a stand-in for each command of `COMMANDS` (its name and summary, which is all
    that `--help` and typo suggestions need), and imports the real one when it runs."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._unloaded = {name for name in COMMANDS if name not in self.commands}
        for name in self._unloaded:
            self.commands[name] = TyperCommand(name, short_help=COMMANDS[name].summary)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in self._unloaded and not ctx.meta.get(_SUMMARIES_ONLY):
            self.commands[cmd_name] = COMMANDS[cmd_name].load(cmd_name)
            self._unloaded.discard(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        ctx.meta[_SUMMARIES_ONLY] = True
        try:
            super().format_help(ctx, formatter)
        finally:
            ctx.meta[_SUMMARIES_ONLY] = False


app = typer.Typer(
    name="runpad",
    cls=_LazyGroup,
    help="Let language models think in code: plan, write, run in a sandbox, review, repair.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold keys and user data
)


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
