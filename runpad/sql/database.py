"""SQL against any SQLAlchemy URL: read-only by default, capped, timed, errors as values.

`SqlDatabase` runs a model's SQL and returns a `SqlResult` (columns, rows up to a cap, or
the error as a value for the model to repair).

Read-only is defended in depth, and each layer is meant to hold alone:

1. A statement check before anything reaches the database (`runpad.sql.safety`): exactly
   one statement, a query, with no write, DDL, transaction control or setting anywhere in its
   syntax tree, and only functions known to be reads, compared by the names the server will
   resolve.
2. One statement per call, below any parser: on PostgreSQL the model's text goes through
   psycopg's extended query protocol (a prepared statement), which refuses a second
   statement; sqlite3 refuses one by itself. runpad's own session setup runs in calls of its
   own, before the model's text.
3. A read-only connection: SQLite opened with `mode=ro`, `PRAGMA query_only` and an
   authorizer that lets the engine compile nothing but reads and allowed functions;
   PostgreSQL with `default_transaction_read_only`, `SET TRANSACTION READ ONLY`, and a
   snapshot taken right after, so nothing in the transaction can turn it read-write again.
4. A transaction that is always rolled back.
5. On PostgreSQL, the role: one that can write or reach the server's files is refused when
   the database opens (`runpad.sql.roles`), unless the user trusts it (`trust_role=True`).

Writes need an explicit opt-in (`allow_writes=True`); then the check and the read-only
connection are off and the transaction commits. For other dialects layers 1, 2 (as far as
the driver goes) and 4 apply: give runpad a database user that can only read.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from runpad.errors import ConfigurationError, MissingDependencyError
from runpad.sql.limits import SqlLimits
from runpad.sql.names import UnreadableSql, tokenize
from runpad.sql.results import SqlError, SqlResult
from runpad.sql.roles import RoleReport, inspect_role, privileged_role_message
from runpad.sql.safety import read_only_violation, split_statements, sqlite_read_only_guard
from runpad.sql.schema import DatabaseSchema, describe_database

__all__ = [
    "WRITES_OPT_IN",
    "SqlDatabase",
    "SqlLimits",
    "named_database_urls",
    "parse_database_url",
]

logger = logging.getLogger(__name__)

WRITES_OPT_IN = (
    "To let runpad write, opt in explicitly: Context(allow_writes=True) for a run, or "
    "SqlDatabase(url, allow_writes=True) / RunSqlTool(..., allow_writes=True)."
)
_ONE_STATEMENT = "runpad_one_statement"  # execution option: send this text alone
_ONE_STATEMENT_REFUSED = (
    "The database driver refused it: it holds more than one statement, and runpad sends "
    "exactly one per call in read-only mode. Send each query in its own call."
)


def _driver_available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def hidden_url(url: URL) -> str:
    """The URL as text, with its password masked."""
    return url.render_as_string(hide_password=True)


def named_database_urls(values: Iterable[str]) -> dict[str, str]:
    """`NAME=URL` values (as `--db` takes them) as name -> URL.

    A bare URL (one with no `NAME=` in front, "...?sslmode=require" included) is named after
    its file or database (`shop.db` -> "shop"), numbered when that name is taken; two
    values that give the same name are refused.
    """
    databases: dict[str, str] = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not name.isidentifier():
            name, url = _name_for(value, databases), value
        if name in databases:
            raise ConfigurationError(f"two databases are named {name!r}")
        databases[name] = url
    return databases


def _name_for(url: str, taken: dict[str, str]) -> str:
    stem = Path(url.rsplit("/", 1)[-1].split("?")[0]).stem
    name = stem if stem.isidentifier() else "db"
    number = 1
    while (candidate := name if number == 1 else f"{name}{number}") in taken:
        number += 1
    return candidate


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


def _send_alone(cursor: Any, statement: str, context: Any) -> bool:
    """SQLAlchemy's `do_execute_no_params` hook for PostgreSQL: the model's text goes out as
    a prepared statement (psycopg's extended query protocol), which the server refuses to
    parse when it holds a second statement. runpad's own statements keep the plain path."""
    if not context.execution_options.get(_ONE_STATEMENT):
        return False
    cursor.execute(statement, prepare=True)
    return True


class SqlDatabase:
    """One database, reached through SQLAlchemy, that runs a model's SQL safely.

    Args:
        url: a SQLAlchemy URL (`sqlite:///file.db`, `postgresql://user@host/db`, ...).
        name: what the model and the prompts call it.
        allow_writes: run writes and commit them; without it, every layer of the read-only
            defense applies (see the module's docstring).
        limits: rows, time and schema size bounds.
        trust_role: on PostgreSQL in read-only mode, use a role that can write or reach the
            server's files anyway (logged as a warning); without it such a role is refused
            when the database opens.
        allowed_functions: functions the statement check accepts besides the built-in reads
            it knows ("name", or "schema.name" for a qualified call).
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
        trust_role: bool = False,
        allowed_functions: Iterable[str] = (),
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.url = parse_database_url(url)
        self.name = name
        self.allow_writes = allow_writes
        self.limits = limits or SqlLimits()
        self.trust_role = trust_role
        self.allowed_functions = tuple(allowed_functions)
        self._engine_options = dict(engine_options or {})
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()  # queries run in worker threads
        self._schema: DatabaseSchema | None = None
        self._role: RoleReport | None = None

    def __repr__(self) -> str:
        mode = "read-write" if self.allow_writes else "read-only"
        return f"SqlDatabase({self.name!r}, {hidden_url(self.url)!r}, {mode})"

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
        """The SQLAlchemy engine, made on first use with the read-only guards installed.

        On PostgreSQL in read-only mode, making it also checks the role (see `role`), and
        raises ConfigurationError for a role that can do more than read unless `trust_role`.
        """
        with self._engine_lock:
            if self._engine is None:
                engine = self._make_engine()
                try:
                    self._check_role(engine)
                except BaseException:
                    engine.dispose()
                    raise
                self._engine = engine
            return self._engine

    def role(self) -> RoleReport | None:
        """What the PostgreSQL role runpad connected as can do (None on other dialects)."""
        if self.dialect != "postgresql":
            return None
        self.engine()
        if self._role is None:  # read-write mode skips the check when opening
            with self._connection() as connection:
                self._role = inspect_role(connection)
        return self._role

    def _check_role(self, engine: Engine) -> None:
        if self.dialect != "postgresql" or self.allow_writes:
            return
        with self._connect(engine) as connection:
            report = inspect_role(connection)  # catalog reads; closing rolls back
        self._role = report
        if report.read_only:
            return
        if not self.trust_role:
            raise ConfigurationError(privileged_role_message(report, self.name))
        logger.warning(
            "Database %r: role %r can do more than read (%s); used anyway (trust_role=True).",
            self.name,
            report.role,
            "; ".join(report.problems),
        )

    def _make_engine(self) -> Engine:
        url = self.url
        options: dict[str, Any] = {}
        connect_args: dict[str, Any] = {}
        backend = url.get_backend_name()
        if backend == "postgresql":
            url = self._postgres_url(url)
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
        if backend == "postgresql" and not self.allow_writes:
            sa.event.listen(engine, "do_execute_no_params", _send_alone)
        if backend == "sqlite" and not self.allow_writes:
            sa.event.listen(engine, "connect", sqlite_read_only_guard(self.allowed_functions))
        return engine

    def _postgres_url(self, url: URL) -> URL:
        psycopg = "postgresql+psycopg"
        if self.allow_writes:
            if url.drivername == "postgresql" and not _driver_available("psycopg2"):
                if not _driver_available("psycopg"):
                    raise MissingDependencyError(
                        "A PostgreSQL driver (psycopg)", "pip install 'runpad[postgres]'"
                    )
                return url.set(drivername=psycopg)
            return url
        # Read-only mode sends the model's text as a prepared statement, which psycopg 3
        # does on request; psycopg2 only speaks the protocol that carries many statements.
        if url.drivername not in ("postgresql", psycopg):
            raise ConfigurationError(
                f"Database {self.name!r}: read-only mode on PostgreSQL needs the psycopg "
                f"driver, not {url.drivername!r}: it is how runpad sends each statement alone. "
                "Use a postgresql:// or postgresql+psycopg:// URL (pip install 'runpad[postgres]')."
            )
        if not _driver_available("psycopg"):
            raise MissingDependencyError(
                "The PostgreSQL driver psycopg (3)", "pip install 'runpad[postgres]'"
            )
        return url.set(drivername=psycopg)

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
        """Run the model's SQL and return the result set, or the error as a value.

        Read-only, the text must be one statement; with `allow_writes` it may be a script,
        and the last statement's result comes back.
        """
        started = time.perf_counter()
        base = SqlResult(database=self.name, dialect=self.dialect, query=query)
        if not self.allow_writes:
            reason = read_only_violation(
                query, self.dialect, allowed_functions=self.allowed_functions
            )
            if reason is not None:
                message = (
                    f"runpad runs SQL read-only and refused this: {reason} Rewrite it as a "
                    f"read-only query. {WRITES_OPT_IN}"
                )
                return _failed(base, "StatementRefused", message, started)
            with self._connection() as connection:
                return self._execute(connection, [self._trimmed(query)], base, started)
        try:
            statements = split_statements(query, self.dialect)
        except ValueError:
            statements = [query]
        if not statements:
            return _failed(base, "StatementRefused", "There is no SQL statement to run.", started)
        with self._connection() as connection:
            return self._execute(connection, statements, base, started)

    async def arun(self, query: str) -> SqlResult:
        """`run` in a worker thread, for async code (the drivers here are blocking)."""
        return await asyncio.to_thread(self.run, query)

    def _trimmed(self, query: str) -> str:
        """The text up to its last token that is not a semicolon: sqlite3 refuses a trailing
        comment after a ';' as a second statement. Nothing before that point changes."""
        try:
            tokens = [t for t in tokenize(query, self.dialect) if t.text != ";"]
        except UnreadableSql:
            return query
        return query[: tokens[-1].end + 1] if tokens else query

    def _connect(self, engine: Engine) -> contextlib.AbstractContextManager[Connection]:
        try:
            connection = engine.connect()
        except sa.exc.DBAPIError as exc:
            raise ConfigurationError(
                f"Could not connect to database {self.name!r} ({hidden_url(self.url)}): "
                f"{_driver_message(exc)}. Check the URL, that the server is running and "
                "reachable, and the credentials."
            ) from exc
        return connection

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        with self._connect(self.engine()) as connection:
            yield connection.execution_options(no_parameters=True)

    def _execute(
        self, connection: Connection, statements: list[str], base: SqlResult, started: float
    ) -> SqlResult:
        columns: list[str] = []
        rows: list[tuple[Any, ...]] = []
        truncated = False
        rowcount: int | None = None
        deadline = time.monotonic() + self.limits.timeout
        alone = {_ONE_STATEMENT: not self.allow_writes}
        transaction = connection.begin()
        try:
            with self._guards(connection, deadline):
                for statement in statements:
                    cursor = connection.exec_driver_sql(statement, execution_options=alone)
                    if not self.allow_writes and _left_transaction(connection):
                        # A COMMIT or ROLLBACK got past the check: the session may carry
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
            milliseconds = max(1, round(self.limits.timeout * 1000))
            setup = f"SET LOCAL statement_timeout = {milliseconds}"
            if not self.allow_writes:
                # runpad's own call, before the model's: read-only, then a query, which takes
                # the transaction's snapshot. After it, SET TRANSACTION READ WRITE and
                # set_config('transaction_read_only', ...) fail ("must be set before any
                # query"), so the model's statement cannot make the transaction writable.
                setup = f"SET TRANSACTION READ ONLY; {setup}; SELECT 1"
            connection.exec_driver_sql(setup)
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
        if self.allow_writes:
            return _error_name(exc), message
        several = (code == "42601" and "multiple commands" in message) or (
            isinstance(original, sqlite3.ProgrammingError) and "one statement at a time" in message
        )
        if several:
            return "StatementRefused", f"{_ONE_STATEMENT_REFUSED} {WRITES_OPT_IN}"
        read_only_refusal = code in ("25006", "25001") or (
            isinstance(original, sqlite3.DatabaseError)
            and ("not authorized" in message or "readonly database" in message)
        )
        if read_only_refusal:
            return (
                "StatementRefused",
                f"The database refused it in read-only mode ({message}). Rewrite it as a "
                f"read-only query. {WRITES_OPT_IN}",
            )
        return _error_name(exc), message

    # -- schema -------------------------------------------------------------------------------

    def schema(self) -> DatabaseSchema:
        """Tables, columns, types, keys and sample rows (cached while read-only)."""
        if self._schema is None or self.allow_writes:
            self._schema = self._read_schema()
        return self._schema

    async def aschema(self) -> DatabaseSchema:
        return await asyncio.to_thread(self.schema)

    def _read_schema(self) -> DatabaseSchema:
        with self._connection() as connection:
            transaction = connection.begin()
            try:
                with self._guards(connection, time.monotonic() + self.limits.timeout):
                    return describe_database(
                        connection,
                        name=self.name,
                        read_only=not self.allow_writes,
                        sample_rows=self.limits.sample_rows,
                        max_chars=self.limits.max_schema_chars,
                    )
            finally:
                transaction.rollback()


def _error_name(exc: sa.exc.DBAPIError) -> str:
    return type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__


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
