"""What every command shares for its output: the exit codes, the consoles, failing with a
message (text cut to fit a line or a table cell is `runpad.text`'s).

Output meant for programs goes to stdout (an answer, a cell's own output, `--json`
documents); progress, warnings, errors and summaries go to stderr.
"""

from __future__ import annotations

import sys
from typing import Final, NoReturn

import typer
from rich.console import Console
from rich.text import Text

__all__ = [
    "EXIT_AWAITING",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_SANDBOX",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "fail",
    "stderr_console",
    "stdout_console",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_SANDBOX: Final = 3
EXIT_STOPPED: Final = 4
EXIT_REJECTED: Final = 5
EXIT_AWAITING: Final = 6
EXIT_INTERRUPTED: Final = 130


def stderr_console() -> Console:
    # Made per call: CliRunner and redirections swap sys.stderr after import.
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def stdout_console() -> Console:
    return Console(file=sys.stdout, highlight=False)


def fail(message: str, code: int) -> NoReturn:
    """Print `Error: message` on stderr and exit with `code`."""
    stderr_console().print(Text(f"Error: {message}", style="red"))
    raise typer.Exit(code)
