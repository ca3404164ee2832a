"""SQL against any SQLAlchemy URL: read-only by default, capped, timed, errors as values.

`SqlDatabase` runs a model's SQL and returns a `SqlResult` (columns, rows up to a cap, or
the error as a value for the model to repair); `RunSqlTool` is the `run_sql` LangChain tool
over it; `DatabaseSchema` is what the coder's prompt shows (tables, columns, types, keys,
a few sample rows, the dialect).

Read-only is defended in depth, because no single layer is enough:

1. A statement check before anything reaches the database: every statement must be a
   query, with no write, DDL, ATTACH, COPY, PRAGMA write, transaction control or function
   with side effects anywhere in its syntax tree (`runpad.tools.sql_safety`, with sqlglot).
2. A read-only connection: SQLite opened with `mode=ro`, `PRAGMA query_only` and an
   authorizer that lets the engine compile nothing but reads; PostgreSQL with
   `default_transaction_read_only` and `SET TRANSACTION READ ONLY`.
3. A transaction that is always rolled back.

Writes need an explicit opt-in (`allow_writes=True`); then the check and the read-only
connection are off and the transaction commits. For other dialects layers 1 and 3 apply:
give runpad a database user that can only read.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime
import importlib.util
import io
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

import sqlalchemy as sa
from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools import BaseTool
from langchain_core.tools.base import ArgsSchema
from pydantic import BaseModel, Field, PrivateAttr
from sqlalchemy.engine import URL, Connection, Engine

from runpad.errors import ConfigurationError, MissingDependencyError
from runpad.tools.sql_safety import guard_sqlite_connection, read_only_violation, split_statements

__all__ = [
    "RUN_SQL_DESCRIPTION",
    "DatabaseSchema",
    "RunSqlInput",
    "RunSqlTool",
    "SqlDatabase",
    "SqlError",
    "SqlLimits",
    "SqlResult",
    "TableSchema",
    "format_sql_result",
    "parse_database_url",
]

WRITES_OPT_IN = (
    "To let runpad write, opt in explicitly: Context(allow_writes=True) for a run, or "
    "SqlDatabase(url, allow_writes=True) / RunSqlTool(..., allow_writes=True)."
)


@dataclass(frozen=True)
class SqlLimits:
    """Bounds of each SQL query.

    Attributes:
        max_rows: rows fetched per query; the CSV holds them all, the rest is never read.
        preview_rows: rows the model sees in the table preview.
        timeout: seconds one statement may run (PostgreSQL `statement_timeout`, SQLite
            progress handler).
        sample_rows: rows of each table shown in the schema.
        max_schema_chars: the schema text is cut to this size for the prompt.
        connect_timeout: seconds to reach a database server.
    """

    max_rows: int = 10_000
    preview_rows: int = 20
    timeout: float = 30.0
    sample_rows: int = 3
    max_schema_chars: int = 12_000
    connect_timeout: float = 10.0


# -- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlError:
    """Why a query failed, as the model should read it.

    `name` is "StatementRefused" (read-only mode refused it), "QueryTimeout", or the
    database driver's error class ("OperationalError", "UndefinedColumn", ...).
    """

    name: str
    value: str


@dataclass(frozen=True)
class SqlResult:
    """What a query returned: rows (up to the cap) or the error, never an exception.

    Attributes:
        database: the database's name; dialect: SQLAlchemy's name of its dialect.
        columns, rows: the last statement's result set (rows as the driver returns them).
        truncated: the result had more than `SqlLimits.max_rows` rows; the rest was not read.
        rowcount: rows a write statement changed (None for queries).
        statements: how many statements ran.
        committed: writes were committed (only with allow_writes).
    """

    database: str
    dialect: str
    query: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    truncated: bool = False
    rowcount: int | None = None
    statements: int = 0
    error: SqlError | None = None
    duration_ms: float = 0.0
    committed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def timed_out(self) -> bool:
        return self.error is not None and self.error.name == "QueryTimeout"

    def to_csv(self) -> str:
        """The rows as CSV with a header line (NULL is an empty field)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(["" if value is None else _plain(value) for value in row])
        return buffer.getvalue()

    def to_dict(self) -> dict[str, Any]:
        """JSON-native form: values that JSON lacks (dates, decimals, bytes) become text."""
        data = asdict(self)
        data["rows"] = [[_json_value(value) for value in row] for row in self.rows]
        data["duration_ms"] = round(self.duration_ms, 3)
        return data


def _plain(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return _plain(value)


def format_sql_result(result: SqlResult, max_rows: int = 20, max_cell_chars: int = 40) -> str:
    """A compact text of a result for a model: the size, then the first rows as a table."""
    if result.error is not None:
        return f"{result.error.name}: {result.error.value}"
    if not result.columns:
        changed = "" if result.rowcount is None or result.rowcount < 0 else f"{result.rowcount} "
        done = "committed" if result.committed else "rolled back"
        return f"The statement ran; {changed}row(s) changed ({done})."
    count = f"{len(result.rows)}{'+' if result.truncated else ''}"
    lines = [f"{count} row(s) x {len(result.columns)} column(s)"]
    shown = result.rows[:max_rows]
    cells = [[_cell(value, max_cell_chars) for value in row] for row in shown]
    header = [_cell(name, max_cell_chars) for name in result.columns]
    widths = [max([len(header[i]), *(len(row[i]) for row in cells)]) for i in range(len(header))]
    lines.append(" | ".join(name.ljust(width) for name, width in zip(header, widths, strict=True)))
    lines.append("-+-".join("-" * width for width in widths))
    for row in cells:
        lines.append(
            " | ".join(value.ljust(width) for value, width in zip(row, widths, strict=True))
        )
    if len(result.rows) > len(shown):
        lines.append(f"... {len(result.rows) - len(shown)} more row(s) in the CSV")
    if result.truncated:
        lines.append(
            "The result had more rows than the cap and was cut there; aggregate or add a LIMIT "
            "(SqlLimits.max_rows sets the cap)."
        )
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any, limit: int) -> str:
    text = "NULL" if value is None else _plain(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- the database -----------------------------------------------------------------------------


def _driver_available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _hidden(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def parse_database_url(url: str | URL) -> URL:
    """A SQLAlchemy URL, or a ConfigurationError that shows what a good one looks like."""
    if isinstance(url, URL):
        return url
    try:
        return sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise ConfigurationError(
            f"{url!r} is not a database URL ({exc}). Give a SQLAlchemy URL such as "
            "'sqlite:///path/to/file.db' or 'postgresql://user:password@host:5432/dbname'."
        ) from exc


class SqlDatabase:
    """One database, reached through SQLAlchemy, that runs a model's SQL safely.

    Args:
        url: a SQLAlchemy URL (`sqlite:///file.db`, `postgresql://user@host/db`, ...).
        name: what the model and the prompts call it.
        allow_writes: run writes and commit them; without it, every layer of the read-only
            defense applies (see the module's docstring).
        limits: rows, time and schema size bounds.
        engine_options: extra keyword arguments for `sqlalchemy.create_engine`.

    The engine is made on first use and holds a connection pool: close the database
    (`close()`, or use it as a context manager) when you are done.

    Example:
        ```python
        with SqlDatabase("sqlite:///shop.db", name="shop") as shop:
            result = shop.run("SELECT COUNT(*) AS orders FROM orders")
            print(format_sql_result(result))
            print(shop.schema().text())
        ```
    """

    def __init__(
        self,
        url: str | URL,
        *,
        name: str = "db",
        allow_writes: bool = False,
        limits: SqlLimits | None = None,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.url = parse_database_url(url)
        self.name = name
        self.allow_writes = allow_writes
        self.limits = limits or SqlLimits()
        self._engine_options = dict(engine_options or {})
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()  # queries run in worker threads
        self._schema: DatabaseSchema | None = None

    def __repr__(self) -> str:
        mode = "read-write" if self.allow_writes else "read-only"
        return f"SqlDatabase({self.name!r}, {_hidden(self.url)!r}, {mode})"

    @property
    def dialect(self) -> str:
        """SQLAlchemy's name of the dialect: "sqlite", "postgresql", "mysql", ..."""
        return self.url.get_backend_name()

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool; the next query opens a new one."""
        with self._engine_lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def engine(self) -> Engine:
        """The SQLAlchemy engine, made on first use with the read-only guards installed."""
        with self._engine_lock:
            if self._engine is None:
                self._engine = self._make_engine()
            return self._engine

    def _make_engine(self) -> Engine:
        url = self.url
        options: dict[str, Any] = {}
        connect_args: dict[str, Any] = {}
        backend = url.get_backend_name()
        if backend == "postgresql":
            if url.drivername == "postgresql" and not _driver_available("psycopg2"):
                if not _driver_available("psycopg"):
                    raise MissingDependencyError(
                        "A PostgreSQL driver (psycopg)", "pip install 'runpad[postgres]'"
                    )
                url = url.set(drivername="postgresql+psycopg")
            connect_args["connect_timeout"] = max(1, round(self.limits.connect_timeout))
            if not self.allow_writes:
                connect_args["options"] = "-c default_transaction_read_only=on"
        elif backend == "sqlite":
            url = self._sqlite_url(url)
        options["connect_args"] = {**connect_args, **self._engine_options.pop("connect_args", {})}
        options.update(self._engine_options)
        try:
            engine = sa.create_engine(url, **options)
        except sa.exc.NoSuchModuleError as exc:
            raise MissingDependencyError(
                f"The SQLAlchemy dialect or driver for {url.drivername!r}",
                f"pip install the driver for {backend} (see SQLAlchemy's dialect docs)",
            ) from exc
        except ImportError as exc:
            raise MissingDependencyError(
                f"The database driver for {url.drivername!r} ({exc.name or exc})",
                f"pip install {exc.name or 'the driver'}",
            ) from exc
        if backend == "sqlite" and not self.allow_writes:
            sa.event.listen(engine, "connect", guard_sqlite_connection)
        return engine

    def _sqlite_url(self, url: URL) -> URL:
        database = url.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in str(url)
        if in_memory or self.allow_writes:
            return url
        if database.startswith("file:"):
            return url.update_query_dict({"mode": "ro", "uri": "true"})
        path = Path(database).expanduser()
        if not path.is_file():
            raise ConfigurationError(
                f"The SQLite database of {self.name!r} does not exist: {path}. Check the path "
                "in its URL (sqlite:///relative/path.db, sqlite:////absolute/path.db); "
                "read-only mode does not create files."
            )
        return url.set(database=f"file:{quote(str(path.resolve()))}").update_query_dict(
            {"mode": "ro", "uri": "true"}
        )

    # -- running SQL --------------------------------------------------------------------------

    def run(self, query: str) -> SqlResult:
        """Run one or several statements and return the last result set, or the error."""
        started = time.perf_counter()
        base = SqlResult(database=self.name, dialect=self.dialect, query=query)
        try:
            statements = split_statements(query, self.dialect)
        except ValueError as exc:
            if not self.allow_writes:
                return _failed(base, "StatementRefused", f"{exc} {WRITES_OPT_IN}", started)
            statements = [query]
        if not statements:
            return _failed(base, "StatementRefused", "There is no SQL statement to run.", started)
        if not self.allow_writes:
            reason = read_only_violation(query, self.dialect)
            if reason is not None:
                message = (
                    f"runpad runs SQL read-only and refused this: {reason} Rewrite it as a "
                    f"read-only query. {WRITES_OPT_IN}"
                )
                return _failed(base, "StatementRefused", message, started)
        with self._connection() as connection:
            return self._execute(connection, statements, base, started)

    async def arun(self, query: str) -> SqlResult:
        """`run` in a worker thread, for async code (the drivers here are blocking)."""
        return await asyncio.to_thread(self.run, query)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        engine = self.engine()
        try:
            connection = engine.connect()
        except sa.exc.DBAPIError as exc:
            raise ConfigurationError(
                f"Could not connect to database {self.name!r} ({_hidden(self.url)}): "
                f"{_driver_message(exc)}. Check the URL, that the server is running and "
                "reachable, and the credentials."
            ) from exc
        with connection:
            yield connection.execution_options(no_parameters=True)

    def _execute(
        self, connection: Connection, statements: list[str], base: SqlResult, started: float
    ) -> SqlResult:
        columns: list[str] = []
        rows: list[tuple[Any, ...]] = []
        truncated = False
        rowcount: int | None = None
        deadline = time.monotonic() + self.limits.timeout
        transaction = connection.begin()
        try:
            with self._guards(connection, deadline):
                for statement in statements:
                    cursor = connection.exec_driver_sql(statement)
                    if not self.allow_writes and _left_transaction(connection):
                        # A COMMIT or ROLLBACK got past the check: what follows would run
                        # outside the read-only transaction, and the session may carry
                        # settings changed on the way. Drop the connection altogether.
                        transaction.rollback()
                        connection.invalidate()
                        message = (
                            "The statement ended runpad's read-only transaction; transaction "
                            f"control is not allowed. {WRITES_OPT_IN}"
                        )
                        return _failed(base, "StatementRefused", message, started)
                    if cursor.returns_rows:
                        columns = list(cursor.keys())
                        fetched = cursor.fetchmany(self.limits.max_rows + 1)
                        truncated = len(fetched) > self.limits.max_rows
                        rows = [tuple(row) for row in fetched[: self.limits.max_rows]]
                        rowcount = None
                        cursor.close()
                    else:
                        columns, rows, truncated = [], [], False
                        rowcount = cursor.rowcount
        except sa.exc.DBAPIError as exc:
            transaction.rollback()
            if exc.connection_invalidated:
                raise ConfigurationError(
                    f"The connection to database {self.name!r} broke during a query: "
                    f"{_driver_message(exc)}. Check that the server is still running."
                ) from exc
            name, message = self._classify(exc, deadline)
            return _failed(base, name, message, started, statements=len(statements))
        committed = False
        if self.allow_writes:
            transaction.commit()
            committed = True
            self._schema = None  # a write may have changed it
        else:
            transaction.rollback()
        return SqlResult(
            database=base.database,
            dialect=base.dialect,
            query=base.query,
            columns=columns,
            rows=rows,
            truncated=truncated,
            rowcount=rowcount,
            statements=len(statements),
            duration_ms=(time.perf_counter() - started) * 1000,
            committed=committed,
        )

    @contextlib.contextmanager
    def _guards(self, connection: Connection, deadline: float) -> Iterator[None]:
        """Per-transaction read-only mode and statement timeout, where the dialect has them."""
        backend = self.dialect
        if backend == "postgresql":
            if not self.allow_writes:
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            milliseconds = max(1, round(self.limits.timeout * 1000))
            connection.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")
            yield
        elif backend == "sqlite":
            raw = connection.connection.dbapi_connection
            assert raw is not None
            raw.set_progress_handler(_deadline_handler(deadline), 1000)
            try:
                yield
            finally:
                raw.set_progress_handler(None, 0)
        else:
            yield

    def _classify(self, exc: sa.exc.DBAPIError, deadline: float) -> tuple[str, str]:
        message = _driver_message(exc)
        original = exc.orig
        code = getattr(getattr(original, "diag", None), "sqlstate", None) or getattr(
            original, "sqlstate", None
        )
        timeout_hint = (
            f"The query ran past its {self.limits.timeout:g} s limit and was stopped "
            "(SqlLimits.timeout): make it cheaper (filter early, aggregate, LIMIT)."
        )
        if code == "57014" or (
            isinstance(original, sqlite3.OperationalError)
            and "interrupted" in message
            and time.monotonic() >= deadline
        ):
            return "QueryTimeout", timeout_hint
        read_only_refusal = code == "25006" or (
            isinstance(original, sqlite3.DatabaseError)
            and ("not authorized" in message or "readonly database" in message)
        )
        if read_only_refusal and not self.allow_writes:
            return (
                "StatementRefused",
                f"The database refused it in read-only mode ({message}). Rewrite it as a "
                f"read-only query. {WRITES_OPT_IN}",
            )
        return type(original).__name__ if original is not None else type(exc).__name__, message

    # -- schema -------------------------------------------------------------------------------

    def schema(self) -> DatabaseSchema:
        """Tables, columns, types, keys and sample rows (cached while read-only)."""
        if self._schema is None or self.allow_writes:
            self._schema = self._read_schema()
        return self._schema

    async def aschema(self) -> DatabaseSchema:
        return await asyncio.to_thread(self.schema)

    def _read_schema(self) -> DatabaseSchema:
        tables: list[TableSchema] = []
        with self._connection() as connection:
            transaction = connection.begin()
            try:
                with self._guards(connection, time.monotonic() + self.limits.timeout):
                    inspector = sa.inspect(connection)
                    default = inspector.default_schema_name
                    for schema_name in _user_schemas(inspector, default):
                        qualifier = None if schema_name == default else schema_name
                        for table in sorted(inspector.get_table_names(schema=qualifier)):
                            tables.append(self._table(connection, inspector, table, qualifier))
                        for view in sorted(inspector.get_view_names(schema=qualifier)):
                            tables.append(
                                self._table(connection, inspector, view, qualifier, view=True)
                            )
            finally:
                transaction.rollback()
        return DatabaseSchema(
            name=self.name,
            dialect=self.dialect,
            tables=tables,
            read_only=not self.allow_writes,
            max_chars=self.limits.max_schema_chars,
        )

    def _table(
        self,
        connection: Connection,
        inspector: sa.Inspector,
        name: str,
        schema: str | None,
        *,
        view: bool = False,
    ) -> TableSchema:
        columns = inspector.get_columns(name, schema=schema)
        primary = (
            [] if view else inspector.get_pk_constraint(name, schema=schema)["constrained_columns"]
        )
        foreign = [] if view else inspector.get_foreign_keys(name, schema=schema)
        references = []
        for key in foreign:
            target = key["referred_table"]
            if key.get("referred_schema"):
                target = f"{key['referred_schema']}.{target}"
            for local, remote in zip(
                key["constrained_columns"], key["referred_columns"], strict=False
            ):
                references.append(f"{local} -> {target}.{remote}")
        dialect = connection.dialect
        described = [
            ColumnSchema(
                name=column["name"],
                type=_type_name(column["type"], dialect),
                nullable=bool(column.get("nullable", True)),
            )
            for column in columns
        ]
        sample: list[tuple[Any, ...]] = []
        if self.limits.sample_rows > 0 and columns:
            table = sa.table(name, *(sa.column(c["name"]) for c in columns), schema=schema)
            # A failed query aborts a PostgreSQL transaction: a savepoint contains it. (The
            # SQLite driver's savepoints are unreliable, and SQLite needs none here.)
            nested = (
                contextlib.nullcontext() if self.dialect == "sqlite" else connection.begin_nested()
            )
            try:
                with nested:
                    sample = [
                        tuple(row)
                        for row in connection.execute(
                            sa.select(table).limit(self.limits.sample_rows)
                        )
                    ]
            except sa.exc.DBAPIError:
                sample = []
        qualified = f"{schema}.{name}" if schema else name
        return TableSchema(
            name=qualified,
            columns=described,
            primary_key=list(primary or []),
            foreign_keys=references,
            sample_rows=sample,
            is_view=view,
        )


def _user_schemas(inspector: sa.Inspector, default: str | None) -> list[str | None]:
    try:
        names = inspector.get_schema_names()
    except (NotImplementedError, sa.exc.DBAPIError):
        return [default]
    system = {"information_schema", "pg_catalog", "pg_toast", "sys", "mysql", "performance_schema"}
    others = sorted(
        n for n in names if n != default and n not in system and not n.startswith("pg_")
    )
    return [default, *others] if default is not None else [*others] or [None]


def _type_name(column_type: Any, dialect: sa.Dialect) -> str:
    try:
        return str(column_type.compile(dialect=dialect))
    except Exception:  # some reflected types cannot compile back; their class name says enough
        return type(column_type).__name__.upper()


def _failed(
    base: SqlResult, name: str, message: str, started: float, statements: int = 0
) -> SqlResult:
    return SqlResult(
        database=base.database,
        dialect=base.dialect,
        query=base.query,
        statements=statements,
        error=SqlError(name, message),
        duration_ms=(time.perf_counter() - started) * 1000,
    )


_IN_TRANSACTION = 2  # libpq's PQTRANS_INTRANS, as psycopg and psycopg2 report it


def _left_transaction(connection: Connection) -> bool:
    """Whether a PostgreSQL connection is no longer inside the transaction runpad opened."""
    raw: Any = connection.connection.dbapi_connection
    info = getattr(raw, "info", None)  # psycopg 3
    status = getattr(info, "transaction_status", None)
    if status is None and hasattr(raw, "get_transaction_status"):  # psycopg2
        status = raw.get_transaction_status()
    return status is not None and int(status) != _IN_TRANSACTION


def _driver_message(exc: sa.exc.DBAPIError) -> str:
    original = exc.orig if exc.orig is not None else exc
    return str(original).strip() or type(original).__name__


def _deadline_handler(deadline: float) -> Callable[[], int]:
    def handler() -> int:
        return 1 if time.monotonic() > deadline else 0  # non-zero interrupts the statement

    return handler


# -- schema for prompts -----------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnSchema:
    name: str
    type: str
    nullable: bool = True


@dataclass(frozen=True)
class TableSchema:
    """One table (or view): its columns, keys and a few sample rows."""

    name: str
    columns: list[ColumnSchema]
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[str] = field(default_factory=list)  # "col -> other.col"
    sample_rows: list[tuple[Any, ...]] = field(default_factory=list)
    is_view: bool = False

    def text(self, max_value_chars: int = 30) -> str:
        kind = "View" if self.is_view else "Table"
        lines = [f"{kind} {self.name}"]
        for column in self.columns:
            marks = []
            if column.name in self.primary_key:
                marks.append("primary key")
            if not column.nullable and column.name not in self.primary_key:
                marks.append("not null")
            suffix = f" ({', '.join(marks)})" if marks else ""
            lines.append(f"  {column.name} {column.type}{suffix}")
        for reference in self.foreign_keys:
            lines.append(f"  foreign key {reference}")
        if self.sample_rows:
            lines.append("  sample rows: " + " | ".join(c.name for c in self.columns))
            for row in self.sample_rows:
                lines.append("    " + " | ".join(_cell(v, max_value_chars) for v in row))
        return "\n".join(lines)


@dataclass(frozen=True)
class DatabaseSchema:
    """What the coder's prompt shows of a database."""

    name: str
    dialect: str
    tables: list[TableSchema]
    read_only: bool = True
    max_chars: int = 12_000

    def text(self) -> str:
        """The schema as prompt text, cut to `max_chars` at a table boundary."""
        mode = "read-only" if self.read_only else "read-write"
        header = f"Database {self.name!r}: {self.dialect} dialect, {mode}"
        if not self.tables:
            return f"{header}; it has no tables."
        parts = [header]
        used = len(header)
        for index, table in enumerate(self.tables):
            text = table.text()
            if used + len(text) > self.max_chars:
                rest = ", ".join(t.name for t in self.tables[index:])
                parts.append(f"(more tables, not described here: {rest})"[: self.max_chars // 4])
                break
            parts.append(text)
            used += len(text) + 1
        return "\n".join(parts)


# -- the LangChain tool -----------------------------------------------------------------------

RUN_SQL_DESCRIPTION = """\
Run SQL against a database and see the result as a table.
- The database is read-only unless its owner enabled writes: write a query (SELECT, with \
WITH, JOIN, GROUP BY, UNION, ...). Statements that change anything are refused.
- Results are capped in rows and in time; aggregate in SQL rather than fetching whole tables.
- If the query fails, the database's error comes back: fix the query and call again.
- To learn the tables and columns, query the catalog (sqlite_master in SQLite, \
information_schema in PostgreSQL and MySQL)."""


class RunSqlInput(BaseModel):
    """The arguments the model gives `run_sql`."""

    query: str = Field(description="The SQL to run, in the database's dialect.")
    database: str | None = Field(
        default=None,
        description="Which database to run it on, by name; leave out when there is only one.",
    )


class RunSqlTool(BaseTool):
    """The `run_sql` tool: SQL for any LangChain agent, read-only unless writes are allowed.

    Args:
        databases: a URL, a `SqlDatabase`, or a mapping of names to either.
        allow_writes: for databases given as URLs: run writes and commit them.
        limits: for databases given as URLs: rows, time and schema bounds.
        output_dir: when set, each result is also written there as a CSV file, named in the
            tool's reply.
        describe_schema: put each database's schema in the tool's description, so the model
            knows the tables without asking (costs prompt tokens on every call).

    The model gets the table preview (or the error); the whole `SqlResult` rides along as
    the ToolMessage's artifact (`SqlResult.to_dict()`). Close the tool (or use it as a
    context manager) to close the databases it opened from URLs.

    Example:
        ```python
        from langgraph.prebuilt import create_react_agent
        from runpad.tools import RunSqlTool

        with RunSqlTool({"shop": "sqlite:///shop.db"}) as run_sql:
            agent = create_react_agent("openai:gpt-4.1", [run_sql])
            agent.invoke({"messages": [("user", "How many orders came in last week?")]})
        ```
    """

    name: str = "run_sql"
    description: str = RUN_SQL_DESCRIPTION
    args_schema: ArgsSchema | None = RunSqlInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"

    output_dir: str | None = None
    preview_rows: int = Field(default=20, ge=1)

    _databases: dict[str, SqlDatabase] = PrivateAttr(default_factory=dict)
    _owned: list[SqlDatabase] = PrivateAttr(default_factory=list)

    def __init__(
        self,
        databases: str | URL | SqlDatabase | Mapping[str, str | URL | SqlDatabase],
        *,
        allow_writes: bool = False,
        limits: SqlLimits | None = None,
        describe_schema: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        given = databases if isinstance(databases, Mapping) else {"db": databases}
        if not given:
            raise ConfigurationError("RunSqlTool needs at least one database URL.")
        for name, source in given.items():
            if isinstance(source, SqlDatabase):
                self._databases[name] = source
            else:
                database = SqlDatabase(source, name=name, allow_writes=allow_writes, limits=limits)
                self._databases[name] = database
                self._owned.append(database)
        listing = "\n".join(
            f"- {name}: {db.dialect}{'' if db.allow_writes else ', read-only'}"
            for name, db in self._databases.items()
        )
        self.description = f"{RUN_SQL_DESCRIPTION}\nDatabases:\n{listing}"
        if describe_schema:
            schemas = "\n\n".join(db.schema().text() for db in self._databases.values())
            self.description += f"\n\n{schemas}"

    @property
    def databases(self) -> dict[str, SqlDatabase]:
        return dict(self._databases)

    def _pick(self, name: str | None) -> SqlDatabase | str:
        if name is None:
            if len(self._databases) == 1:
                return next(iter(self._databases.values()))
            return f"Say which database to use: one of {', '.join(self._databases)}."
        database = self._databases.get(name)
        if database is None:
            return f"There is no database named {name!r}; there are: {', '.join(self._databases)}."
        return database

    def _run(
        self,
        query: str,
        database: str | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str, dict[str, Any]]:
        chosen = self._pick(database)
        if isinstance(chosen, str):
            return chosen, {"error": chosen}
        return self._response(chosen.run(query))

    async def _arun(
        self,
        query: str,
        database: str | None = None,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> tuple[str, dict[str, Any]]:
        chosen = self._pick(database)
        if isinstance(chosen, str):
            return chosen, {"error": chosen}
        result = await chosen.arun(query)
        return await asyncio.to_thread(self._response, result)

    def _response(self, result: SqlResult) -> tuple[str, dict[str, Any]]:
        text = format_sql_result(result, self.preview_rows)
        artifact = result.to_dict()
        if result.ok and result.columns and self.output_dir is not None:
            path = Path(self.output_dir) / f"{result.database}-{uuid.uuid4().hex[:8]}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(result.to_csv())
            artifact["csv_path"] = str(path)
            text += f"\nThe whole result is in {path}."
        return text, artifact

    def close(self) -> None:
        """Close the databases this tool opened from URLs."""
        for database in self._owned:
            database.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
