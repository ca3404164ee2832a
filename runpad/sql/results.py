"""What a query returned, as values: `SqlResult` (rows or the error) and its text for a model."""

from __future__ import annotations

import csv
import datetime
import io
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["SqlError", "SqlResult", "cell_text", "format_sql_result"]


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
    cells = [[cell_text(value, max_cell_chars) for value in row] for row in shown]
    header = [cell_text(name, max_cell_chars) for name in result.columns]
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


def cell_text(value: Any, limit: int) -> str:
    """One value as a table cell: NULL spelled out, one line, at most `limit` characters."""
    text = "NULL" if value is None else _plain(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."
