"""`runpad db check URL`: what the connection runpad would use may do, and whether
read-only mode accepts it; and the one warning a run prints when told to trust a role."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from runpad.errors import RunpadError
from runpad.sql.database import SqlDatabase, hidden_url, parse_database_url
from runpad.sql.roles import READ_ONLY_ROLE_SQL, RoleReport

__all__ = ["DatabaseCheck", "check_database", "print_database_check", "trust_role_warning"]


@dataclass(frozen=True)
class DatabaseCheck:
    """What runpad found about one database URL.

    Attributes:
        url: the URL, password hidden. dialect: SQLAlchemy's dialect name.
        role: the PostgreSQL role's report (None on other dialects or when unreachable).
        note: what holds on a dialect without roles to inspect.
        problem: why the database could not be checked (None when it could).
        read_only: runpad's read-only mode accepts it without `trust_role`.
    """

    url: str
    dialect: str
    read_only: bool
    role: RoleReport | None = None
    note: str | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "dialect": self.dialect,
            "read_only": self.read_only,
            "role": None if self.role is None else self.role.to_dict(),
            "note": self.note,
            "problem": self.problem,
        }


def check_database(url: str) -> DatabaseCheck:
    """Connect to `url` as runpad's read-only mode would, and report what its user may do."""
    parsed = parse_database_url(url)
    shown, dialect = hidden_url(parsed), parsed.get_backend_name()
    database = SqlDatabase(parsed, name="checked", trust_role=True)
    try:
        if dialect == "postgresql":
            role = database.role()
            assert role is not None
            return DatabaseCheck(shown, dialect, role.read_only, role=role)
        probe = database.run("SELECT 1")
        if probe.error is not None:
            return DatabaseCheck(shown, dialect, False, problem=probe.error.value)
        if dialect == "sqlite":
            note = (
                "SQLite has no roles. runpad opens the file read-only (mode=ro), sets PRAGMA "
                "query_only and an authorizer that lets the engine compile only reads, and "
                "sqlite3 runs one statement per call: nothing a statement does writes the file."
            )
            return DatabaseCheck(shown, dialect, True, note=note)
        note = (
            f"runpad cannot inspect the user's privileges on {dialect}: only its statement "
            "check, one statement per call and the rolled-back transaction stand in the way. "
            "Give runpad a database user that can only read."
        )
        return DatabaseCheck(shown, dialect, False, note=note)
    except RunpadError as exc:
        return DatabaseCheck(shown, dialect, False, problem=str(exc))
    finally:
        database.close()


def print_database_check(check: DatabaseCheck, console: Console) -> None:
    """The check as `runpad db check` prints it."""
    console.print(Text(f"{check.url} ({check.dialect})", style="bold"))
    if check.problem is not None:
        console.print(Text(f"Could not check it.\n{check.problem}", style="red"))
        return
    if check.note is not None:
        console.print(Text(check.note))
    role = check.role
    if role is not None:
        table = Table(show_edge=False, pad_edge=False, show_header=False)
        table.add_column("what", no_wrap=True)
        table.add_column("found")
        where = f"in database {role.database} (PostgreSQL {role.server_version})"
        table.add_row("role", f"{role.role} {where}")
        table.add_row("reads", f"{role.readable} table(s), view(s) or sequence(s)")
        table.add_row(
            "temporary tables", "yes (vanish with the session)" if role.temporary else "no"
        )
        if role.create_db or role.bypass_rls:
            extra = [
                n for n, on in (("CREATEDB", role.create_db), ("BYPASSRLS", role.bypass_rls)) if on
            ]
            table.add_row("also", ", ".join(extra))
        for problem in role.problems:
            table.add_row(Text("can", style="red"), Text(problem, style="red"))
        console.print(table)
    if check.read_only:
        console.print(Text("Read-only: runpad's read-only mode accepts it.", style="bold green"))
        return
    if role is not None:
        console.print(
            Text(
                "More than a reader: runpad's read-only mode refuses it (unless --db-trust-role). "
                "A role that can only read:",
                style="bold red",
            )
        )
        for line in READ_ONLY_ROLE_SQL:
            console.print(Text(f"    {line}"))
    else:
        console.print(Text("Not verified read-only.", style="bold red"))


def trust_role_warning(databases: Mapping[str, SqlDatabase]) -> str | None:
    """The warning a run prints once when told to trust the roles of its databases: names
    the roles that can do more than read (None when none can)."""
    found = []
    for name, database in databases.items():
        role = database.role() if database.trust_role and not database.allow_writes else None
        if role is not None and not role.read_only:
            found.append(f"{name} (role {role.role}: {'; '.join(role.problems)})")
    if not found:
        return None
    return (
        "--db-trust-role: SQL steps run as role(s) that can do more than read: "
        + ", ".join(found)
        + ". Only runpad's own guards keep a model's SQL from changing data or reaching the "
        "server; a read-only role is the real guarantee (`runpad db check URL`)."
    )
