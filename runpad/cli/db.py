"""`runpad db check`: what a database user can do beyond reading (the check and its
rendering live in `runpad.sql.check`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from runpad.cli.options import JsonOption
from runpad.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, stdout_console
from runpad.errors import ConfigurationError
from runpad.sql.check import check_database, print_database_check

__all__ = ["app"]

app = typer.Typer(name="db", help="Check the databases runpad may query.", no_args_is_help=True)


@app.command("check")
def db_check(
    url: Annotated[str, typer.Argument(metavar="URL", help="A SQLAlchemy database URL.")],
    json_output: JsonOption = False,
) -> None:
    """Connect as runpad would and print what the database user can do beyond reading.

    Exit status: 0 read-only, 1 more than a reader (or not verifiable, or unreachable).
    """
    try:
        check = check_database(url)
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE)
    if json_output:
        typer.echo(json.dumps(check.to_dict(), indent=2))
    else:
        print_database_check(check, stdout_console())
    raise typer.Exit(EXIT_OK if check.read_only else EXIT_FAILED)
