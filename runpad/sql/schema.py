"""What the coder's prompt shows of a database: tables, columns, types, keys, sample rows."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from runpad.sql.results import cell_text

__all__ = ["ColumnSchema", "DatabaseSchema", "TableSchema", "describe_database"]


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
                lines.append("    " + " | ".join(cell_text(v, max_value_chars) for v in row))
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


def describe_database(
    connection: Connection,
    *,
    name: str,
    read_only: bool,
    sample_rows: int,
    max_chars: int,
) -> DatabaseSchema:
    """Reflect every user schema's tables and views over an open connection (in a
    transaction the caller opened and rolls back)."""
    dialect = connection.dialect.name
    inspector = sa.inspect(connection)
    default = inspector.default_schema_name
    tables: list[TableSchema] = []
    for schema_name in _user_schemas(inspector, default):
        qualifier = None if schema_name == default else schema_name
        for table in sorted(inspector.get_table_names(schema=qualifier)):
            tables.append(_table(connection, inspector, table, qualifier, sample_rows))
        for view in sorted(inspector.get_view_names(schema=qualifier)):
            tables.append(_table(connection, inspector, view, qualifier, sample_rows, view=True))
    return DatabaseSchema(
        name=name, dialect=dialect, tables=tables, read_only=read_only, max_chars=max_chars
    )


def _table(
    connection: Connection,
    inspector: sa.Inspector,
    name: str,
    schema: str | None,
    sample_rows: int,
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
        for local, remote in zip(key["constrained_columns"], key["referred_columns"], strict=False):
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
    if sample_rows > 0 and columns:
        table = sa.table(name, *(sa.column(c["name"]) for c in columns), schema=schema)
        # A failed query aborts a PostgreSQL transaction: a savepoint contains it. (The
        # SQLite driver's savepoints are unreliable, and SQLite needs none here.)
        nested = contextlib.nullcontext() if dialect.name == "sqlite" else connection.begin_nested()
        try:
            with nested:
                sample = [
                    tuple(row) for row in connection.execute(sa.select(table).limit(sample_rows))
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
