"""`runpad mcp`: serve runpad to MCP clients (Claude Desktop, Cursor, VS Code, agents).

`runpad.cli` hands the command's arguments to `main`, importing this module only when the
command runs, so `runpad --version` never loads the MCP SDK. Nothing here imports the SDK
at module level either: a missing `mcp` package is reported with the extra to install.

Exit codes as the rest of the CLI: 0 the client disconnected or the server was stopped,
2 a bad option, model or database, 3 the sandbox cannot start here.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from runpad.errors import ConfigurationError, MissingDependencyError, RunpadError
from runpad.mcp.settings import TOKEN_ENV, McpSettings
from runpad.sandbox.limits import Limits

__all__ = ["main", "mcp_app"]

EXIT_USAGE = 2
EXIT_SANDBOX = 3
_BACKENDS = ("local", "docker", "e2b", "unsafe-local")

mcp_app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)


def _fail(message: str, code: int) -> None:
    Console(file=sys.stderr, highlight=False, soft_wrap=True).print(
        Text(f"Error: {message}", style="red")
    )
    raise typer.Exit(code)


def _database_urls(values: list[str]) -> dict[str, str]:
    from runpad.sql import named_database_urls

    try:
        return named_database_urls(values)
    except ConfigurationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--db") from exc


@mcp_app.command(name="mcp")
def mcp_command(
    http: Annotated[
        bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio.")
    ] = False,
    host: Annotated[
        str,
        typer.Option(
            help=f"Where --http listens. Anything but loopback needs --token (or ${TOKEN_ENV})."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The --http port (0: any free port).")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            envvar=TOKEN_ENV,
            help="The bearer token HTTP clients must send (required off loopback).",
            show_default=False,
        ),
    ] = None,
    allow_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-origin",
            help="A browser origin allowed to call the HTTP server, besides this machine's "
            "own (repeat for more).",
            show_default=False,
        ),
    ] = None,
    sandbox: Annotated[
        str,
        typer.Option(
            help=f"Where code runs: {', '.join(_BACKENDS)}. 'unsafe-local' runs code WITHOUT "
            "isolation."
        ),
    ] = "local",
    db: Annotated[
        list[str] | None,
        typer.Option(
            "--db",
            help="A database for run_sql and analyze: NAME=URL (SQLAlchemy); repeat for more. "
            "Read-only unless --allow-writes.",
            show_default=False,
        ),
    ] = None,
    allow_writes: Annotated[
        bool, typer.Option("--allow-writes", help="Let SQL change the databases.")
    ] = False,
    files: Annotated[
        Path | None,
        typer.Option(
            "--files",
            help="A folder every session gets a copy of in its work dir (the originals are "
            "never written).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="The analyze tool's model: 'local', 'provider:model' or 'replay:PATH' "
            "(default: $RUNPAD_MODEL, else local).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="A cell's default time limit, in seconds.")
    ] = Limits().timeout,
    max_cell_timeout: Annotated[
        float, typer.Option(help="The longest time limit a client may ask for one cell.")
    ] = 600.0,
    memory_mb: Annotated[
        int, typer.Option(help="Memory of each sandbox session, in MB.")
    ] = Limits().memory_mb,
    max_sessions: Annotated[
        int,
        typer.Option(help="Sandbox sessions at once (one per client, one per running analysis)."),
    ] = 8,
    idle_expiry: Annotated[
        float, typer.Option(help="Seconds after which an unused session is closed.")
    ] = 1800.0,
    max_file_bytes: Annotated[
        int, typer.Option(help="The largest file read_file returns and write_file takes.")
    ] = 10_000_000,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            envvar="RUNPAD_RUNS",
            help="The runs directory: each analysis's report, notebook and the checkpoints.",
        ),
    ] = Path("runs"),
    checkpoints: Annotated[
        str | None,
        typer.Option(
            envvar="RUNPAD_CHECKPOINTS",
            help="The analyses' checkpoint store: a PostgreSQL URL or a SQLite file "
            "(default: OUT/checkpoints.sqlite).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve runpad to MCP clients: a sandboxed Python session per client, SQL, Graphviz,
    and the whole analysis graph.

    Exit status: 0 stopped; 2 a bad option, model or database; 3 the sandbox cannot start.
    """
    if sandbox not in _BACKENDS:
        _fail(f"Unknown sandbox {sandbox!r}; choose one of: {', '.join(_BACKENDS)}.", EXIT_USAGE)
    try:
        settings = McpSettings(
            sandbox=sandbox,
            limits=Limits(timeout=timeout, memory_mb=memory_mb),
            max_cell_timeout=max_cell_timeout,
            max_sessions=max_sessions,
            idle_seconds=idle_expiry,
            databases=_database_urls(db or []),
            allow_writes=allow_writes,
            files_dir=str(files) if files is not None else None,
            model=model,
            run_dir=str(out),
            checkpoints=checkpoints,
            max_file_bytes=max_file_bytes,
            host=host,
            port=port,
            token=token,
            allowed_origins=tuple(allow_origin or ()),
        )
        settings.check_files_dir()
        if http:
            settings.check_http()
    except (ConfigurationError, ValueError) as exc:
        _fail(str(exc), EXIT_USAGE)
    _check_model(model)
    _check_sandbox(sandbox)
    _check_databases(settings)
    _serve(settings, http)


def _check_model(model: str | None) -> None:
    """A model given by name must resolve now; without one, analyze says what to set."""
    if model is None:
        return
    from runpad.models import resolve_model

    try:
        resolve_model(model)
    except ConfigurationError as exc:
        _fail(f"--model {model}: {exc}", EXIT_USAGE)


def _check_sandbox(backend: str) -> None:
    from runpad.sandbox.factory import check_can_start

    try:
        check_can_start(backend)
    except RunpadError as exc:
        _fail(f"The {backend} sandbox cannot start here.\n{exc}", EXIT_SANDBOX)


def _check_databases(settings: McpSettings) -> None:
    from runpad.sql import SqlDatabase

    for name, url in settings.databases.items():
        try:
            with SqlDatabase(url, name=name, allow_writes=settings.allow_writes) as database:
                probe = database.run("SELECT 1")
        except RunpadError as exc:
            _fail(f"Database {name!r} cannot be used: {exc}", EXIT_USAGE)
        if probe.error is not None:
            _fail(
                f"Could not reach database {name!r}: {probe.error.name}: {probe.error.value}",
                EXIT_USAGE,
            )


def _serve(settings: McpSettings, http: bool) -> None:
    try:
        import anyio

        from runpad.mcp.server import RunpadMcpServer
        from runpad.mcp.transports import serve_http, serve_stdio
    except ImportError as exc:
        missing = MissingDependencyError("The MCP SDK (mcp)", "pip install 'runpad[mcp]'")
        _fail(f"{missing} ({exc})", EXIT_USAGE)
    server = RunpadMcpServer(settings)
    console = Console(file=sys.stderr, highlight=False, soft_wrap=True)
    what = f"sandbox {settings.sandbox}, up to {settings.max_sessions} sessions"
    if settings.databases:
        mode = "read-write" if settings.allow_writes else "read-only"
        what += f", databases {', '.join(settings.databases)} ({mode})"
    if http and settings.http_token() is not None:
        what += ", bearer token required"

    def ready(url: str) -> None:
        console.print(Text(f"runpad MCP server listening on {url} ({what})", style="dim"))

    # anyio.run rather than runpad.bridge.run_sync, as the MCP SDK starts its own servers:
    # the SDK is written on anyio (here on asyncio, a fresh loop for the server's lifetime).
    try:
        if http:
            anyio.run(functools.partial(serve_http, server, on_ready=ready))
        else:
            console.print(Text(f"runpad MCP server on stdio ({what})", style="dim"))
            anyio.run(serve_stdio, server)
    except KeyboardInterrupt:
        pass


def main(args: list[str]) -> None:
    """Run `runpad mcp` with these command-line arguments."""
    mcp_app(args, prog_name="runpad mcp")
