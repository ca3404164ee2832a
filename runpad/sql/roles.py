"""What the role a PostgreSQL connection logged in as can do beyond reading.

runpad's read-only layers (the statement check, one statement per call, a read-only
transaction that is always rolled back) stand between a model's SQL and the data; the role is
what stands behind them. A superuser reads and writes the server's files and runs programs on
it whatever the transaction says (`COPY ... TO PROGRAM`, `lo_export`), a member of
`pg_signal_backend` ends other sessions, and an owner or a role with write grants can write
the moment one layer has a gap. So a read-only database refuses such a role when it opens,
unless the user says they trust it (`trust_role=True`); `runpad db check URL` prints this
report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["READ_ONLY_ROLE_SQL", "RoleReport", "inspect_role", "privileged_role_message"]

READ_ONLY_ROLE_SQL = (
    "CREATE ROLE runpad_reader LOGIN PASSWORD 'choose-a-password';",
    "GRANT pg_read_all_data TO runpad_reader;",
)
_PER_SCHEMA_SQL = (
    "GRANT USAGE ON SCHEMA public TO runpad_reader; "
    "GRANT SELECT ON ALL TABLES IN SCHEMA public TO runpad_reader;"
)

# Built-in roles that reach past a read-only transaction, or write everything.
_PRIVILEGED_ROLES = {
    "pg_write_server_files": "writes files on the server",
    "pg_read_server_files": "reads any file the server can read",
    "pg_execute_server_program": "runs programs on the server",
    "pg_signal_backend": "cancels and ends other sessions",
    "pg_write_all_data": "writes every table",
    "pg_maintain": "vacuums, reindexes and locks every table",
    "pg_checkpoint": "forces checkpoints",
    "pg_create_subscription": "creates subscriptions to other servers",
}
# Functions that reach the server's files or its configuration: only a superuser may run
# them unless someone granted EXECUTE.
_SERVER_FUNCTIONS = (
    "pg_read_file(text)",
    "pg_read_file(text,bigint,bigint)",
    "pg_read_binary_file(text)",
    "pg_ls_dir(text)",
    "pg_stat_file(text)",
    "lo_import(text)",
    "lo_export(oid,text)",
    "pg_reload_conf()",
    "pg_rotate_logfile()",
    "pg_file_write(text,text,boolean)",
)
_TABLE_WRITES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER")
_MAINTAIN_SINCE = 170000  # the MAINTAIN table privilege exists from PostgreSQL 17


@dataclass(frozen=True)
class RoleReport:
    """What a PostgreSQL role may do in one database, beyond reading.

    Attributes:
        role, database, server_version: who, where, which server.
        superuser, create_role: role attributes that reach everything.
        builtin_roles: privileged built-in roles it is a member of (`pg_write_server_files`...).
        owns_database: it owns the database (and so, by default, its `public` schema).
        owned: tables, views and sequences it owns ("schema.name").
        writable: tables it may write, with the privileges ("schema.name: INSERT, UPDATE").
        schemas: schemas it owns or may create objects in ("schema: owner" / "schema: CREATE").
        create_schemas: it may create schemas in the database.
        server_functions: server-file functions it may execute.
        readable: tables, views and sequences it may read.
        temporary: it may create temporary tables (harmless: they vanish with the session,
            and a read-only transaction refuses CREATE anyway).
        create_db, bypass_rls: attributes shown for information (no writes to this database).
    """

    role: str
    database: str
    server_version: str
    superuser: bool = False
    create_role: bool = False
    create_db: bool = False
    bypass_rls: bool = False
    builtin_roles: list[str] = field(default_factory=list)
    owns_database: bool = False
    owned: list[str] = field(default_factory=list)
    writable: list[str] = field(default_factory=list)
    schemas: list[str] = field(default_factory=list)
    create_schemas: bool = False
    server_functions: list[str] = field(default_factory=list)
    readable: int = 0
    temporary: bool = False

    @property
    def problems(self) -> list[str]:
        """What makes the role more than a reader, one line each; empty for a reader."""
        found = []
        if self.superuser:
            found.append(
                "is a superuser: it reads and writes the server's files, runs programs on the "
                "server and ends other sessions, whatever the transaction allows"
            )
        if self.create_role:
            found.append("has CREATEROLE: it can create roles and grant them privileges")
        for name in self.builtin_roles:
            found.append(f"is a member of {name}: it {_PRIVILEGED_ROLES[name]}")
        if self.owns_database:
            found.append("owns the database")
        if self.owned:
            found.append(f"owns {len(self.owned)} table(s) or sequence(s): {_some(self.owned)}")
        if self.writable:
            found.append(f"may write to {len(self.writable)} table(s): {_some(self.writable)}")
        if self.schemas:
            found.append(f"owns or may create objects in schema(s): {_some(self.schemas)}")
        if self.create_schemas:
            found.append("may create schemas in the database")
        if self.server_functions:
            found.append(f"may execute server-file functions: {_some(self.server_functions)}")
        return found

    @property
    def read_only(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "read_only": self.read_only, "problems": self.problems}


def _some(items: list[str], shown: int = 5) -> str:
    more = len(items) - shown
    return ", ".join(items[:shown]) + (f" and {more} more" if more > 0 else "")


def inspect_role(connection: Connection) -> RoleReport:
    """Look at the role `connection` logged in as (PostgreSQL); reads the catalog only."""
    head = connection.execute(
        sa.text(
            "SELECT current_user, current_database(), current_setting('server_version'), "
            "current_setting('server_version_num')::int, r.rolsuper, r.rolcreaterole, "
            "r.rolcreatedb, r.rolbypassrls, pg_has_role(d.datdba, 'MEMBER'), "
            "has_database_privilege(current_database(), 'CREATE'), "
            "has_database_privilege(current_database(), 'TEMP') "
            "FROM pg_roles r, pg_database d "
            "WHERE r.rolname = current_user AND d.datname = current_database()"
        )
    ).one()
    (role, database, version, version_num, superuser, create_role, create_db, bypass_rls) = head[:8]
    owns_database, create_schemas, temporary = head[8:]
    builtin = connection.execute(
        sa.text(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(CAST(:names AS text[])) "
            "AND pg_has_role(current_user, oid, 'MEMBER') ORDER BY rolname"
        ),
        {"names": list(_PRIVILEGED_ROLES)},
    ).scalars()
    writes = [*_TABLE_WRITES, *(("MAINTAIN",) if version_num >= _MAINTAIN_SINCE else ())]
    table_writes = ", ".join(
        f"CASE WHEN has_table_privilege(c.oid, '{name}') THEN '{name}' END" for name in writes
    )
    relations = connection.execute(
        sa.text(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
            "pg_has_role(c.relowner, 'USAGE'), "
            "CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, 'SELECT') "
            "ELSE has_table_privilege(c.oid, 'SELECT') END, "
            "CASE WHEN c.relkind = 'S' THEN array_remove(ARRAY["
            "CASE WHEN has_sequence_privilege(c.oid, 'UPDATE') THEN 'UPDATE' END, "
            "CASE WHEN has_sequence_privilege(c.oid, 'USAGE') THEN 'USAGE' END], NULL) "
            f"ELSE array_remove(ARRAY[{table_writes}], NULL) END "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') "
            "AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' "
            "ORDER BY 1"
        )
    ).all()
    schemas = connection.execute(
        sa.text(
            "SELECT quote_ident(n.nspname), pg_has_role(n.nspowner, 'USAGE'), "
            "has_schema_privilege(n.oid, 'CREATE') FROM pg_namespace n "
            "WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1"
        )
    ).all()
    functions = connection.execute(
        sa.text(
            "SELECT signature FROM unnest(CAST(:signatures AS text[])) AS signature "
            "WHERE to_regprocedure(signature) IS NOT NULL "
            "AND has_function_privilege(to_regprocedure(signature), 'EXECUTE')"
        ),
        {"signatures": list(_SERVER_FUNCTIONS)},
    ).scalars()
    return RoleReport(
        role=role,
        database=database,
        server_version=version,
        superuser=bool(superuser),
        create_role=bool(create_role),
        create_db=bool(create_db),
        bypass_rls=bool(bypass_rls),
        builtin_roles=list(builtin),
        owns_database=bool(owns_database),
        owned=[name for name, owned, _, _ in relations if owned],
        writable=[f"{name}: {', '.join(granted)}" for name, _, _, granted in relations if granted],
        schemas=[
            f"{name}: {'owner' if owned else 'CREATE'}"
            for name, owned, create in schemas
            if owned or create
        ],
        create_schemas=bool(create_schemas),
        server_functions=list(functions),
        readable=sum(1 for _, _, readable, _ in relations if readable),
        temporary=bool(temporary),
    )


def privileged_role_message(report: RoleReport, database: str) -> str:
    """The error a read-only database raises for a role that is more than a reader."""
    found = "\n".join(f"  - {problem}" for problem in report.problems)
    create = "\n".join(f"    {line}" for line in READ_ONLY_ROLE_SQL)
    return (
        f"Database {database!r}: runpad connected as role {report.role!r}, which can do more "
        f"than read:\n{found}\n"
        "In read-only mode runpad refuses such a role: its own guards would then be all that "
        "keeps a model's SQL from the data and the server. Connect as a role that can only "
        f"read; as a superuser, create one with:\n{create}\n"
        f"(before PostgreSQL 14, or to limit it to one schema: {_PER_SCHEMA_SQL})\n"
        "To use this role anyway, accepting the risk: SqlDatabase(url, trust_role=True), "
        "Context(trust_role=True) or `runpad run --db-trust-role`. "
        "`runpad db check URL` shows what a role can do."
    )
