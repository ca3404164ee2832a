"""Options that several commands share, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runpad.sandbox.factory import BACKENDS

__all__ = [
    "CheckpointsOption",
    "DatabaseOption",
    "DbTrustRoleOption",
    "JsonOption",
    "ModelOption",
    "OutOption",
    "QuietOption",
    "SandboxOption",
    "ThreadArgument",
]


ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="'local' (the embedded offline model), 'provider:model' (e.g. "
        "'openai:gpt-4.1') or 'replay:PATH' (default: $RUNPAD_MODEL, else local).",
        show_default=False,
    ),
]
SandboxOption = Annotated[
    str | None,
    typer.Option(
        "--sandbox",
        help=f"Where code runs: {', '.join(BACKENDS)} (default: local). "
        "'unsafe-local' runs code WITHOUT isolation.",
        show_default=False,
    ),
]
DatabaseOption = Annotated[
    list[str] | None,
    typer.Option(
        "--db",
        help="A database the run may query (read-only): a SQLAlchemy URL, or NAME=URL; "
        "repeat for more.",
        show_default=False,
    ),
]
DbTrustRoleOption = Annotated[
    bool,
    typer.Option(
        "--db-trust-role",
        help="Query PostgreSQL as a role that can do more than read (superuser, owner, write "
        "grants) instead of refusing it; see `runpad db check`.",
    ),
]
OutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        envvar="RUNPAD_RUNS",
        help="The runs directory: a folder per run (answer, report, notebook, artifacts) "
        "and the SQLite checkpoints.",
    ),
]
CheckpointsOption = Annotated[
    str | None,
    typer.Option(
        "--checkpoints",
        envvar="RUNPAD_CHECKPOINTS",
        help="The checkpoint store: a PostgreSQL URL or a SQLite file "
        "(default: OUT/checkpoints.sqlite).",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout, and nothing else.")
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress display: only the answer on stdout.")
]
ThreadArgument = Annotated[str, typer.Argument(metavar="THREAD", help="The run's thread id.")]
