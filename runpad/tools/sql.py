"""`run_sql`: the LangChain tool over `runpad.sql.SqlDatabase`.

The model gets the table preview (or the error); the whole `SqlResult` rides along as the
ToolMessage's artifact. What read-only means, layer by layer, is in `runpad.sql.database`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools import BaseTool
from langchain_core.tools.base import ArgsSchema
from pydantic import BaseModel, Field, PrivateAttr
from sqlalchemy.engine import URL

from runpad.errors import ConfigurationError

# The executor and older callers import these names from here.
from runpad.sql import (
    DatabaseSchema,
    SqlDatabase,
    SqlError,
    SqlLimits,
    SqlResult,
    TableSchema,
    format_sql_result,
    parse_database_url,
)

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

RUN_SQL_DESCRIPTION = """\
Run SQL against a database and see the result as a table.
- The database is read-only unless its owner enabled writes: write one query per call \
(SELECT, with WITH, JOIN, GROUP BY, UNION, ...). Statements that change anything are refused.
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
        trust_role: for databases given as URLs: accept a PostgreSQL role that can do more
            than read (see `SqlDatabase`).
        allowed_functions: for databases given as URLs: functions to accept besides the
            built-in reads.
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
        trust_role: bool = False,
        allowed_functions: Iterable[str] = (),
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
                database = SqlDatabase(
                    source,
                    name=name,
                    allow_writes=allow_writes,
                    limits=limits,
                    trust_role=trust_role,
                    allowed_functions=allowed_functions,
                )
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
