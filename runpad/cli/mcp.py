"""`runpad mcp`: serve runpad to MCP clients. The server and its own argument parsing live in
`runpad.mcp.cli`, imported when the command runs (the MCP SDK is an optional extra)."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer()


@app.command(
    "mcp",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
    help="Serve runpad to MCP clients over stdio or HTTP (`runpad mcp --help`).",
)
def mcp_command(ctx: typer.Context) -> None:
    from runpad.mcp.cli import main as mcp_main

    mcp_main(ctx.args)
