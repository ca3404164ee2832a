"""`SqlLimits`, apart from the database code so that a `Context` can carry them without
loading SQLAlchemy and sqlglot (a run without databases never needs either)."""

from dataclasses import dataclass

__all__ = ["SqlLimits"]


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
