"""SQL for models: a database reached through SQLAlchemy, read-only unless writes are allowed.

| module | what it does |
|---|---|
| `limits` | `SqlLimits`: the bounds of each query (no SQLAlchemy needed to hold them) |
| `database` | `SqlDatabase`: the engine, the connection guards, running a model's SQL |
| `safety` | the statement check: one read, by the names the server resolves |
| `names` | names as the server resolves them (quoting, case, `U&"..."`, qualifiers) |
| `functions` | the functions known to be pure reads |
| `roles` | what a PostgreSQL role can do beyond reading; refused in read-only mode |
| `results` | `SqlResult`, `SqlError` and their text for a model |
| `schema` | the schema text of the coder's prompt |
| `check` | `runpad db check URL`: what runpad's connection could do |

`runpad.tools.RunSqlTool` is the LangChain tool over `SqlDatabase`.
"""

from typing import TYPE_CHECKING

from runpad.lazy import lazy_names as _lazy_names
from runpad.sql.limits import SqlLimits

if TYPE_CHECKING:
    from runpad.sql.database import SqlDatabase, named_database_urls, parse_database_url
    from runpad.sql.results import SqlError, SqlResult, format_sql_result
    from runpad.sql.roles import RoleReport
    from runpad.sql.safety import read_only_violation, split_statements
    from runpad.sql.schema import ColumnSchema, DatabaseSchema, TableSchema

# Loaded on first use: SQLAlchemy and sqlglot cost a fifth of a second, and a run (or a
# resume) without databases never touches them.
_SOURCES = {
    "ColumnSchema": ".schema",
    "DatabaseSchema": ".schema",
    "RoleReport": ".roles",
    "SqlDatabase": ".database",
    "SqlError": ".results",
    "SqlResult": ".results",
    "TableSchema": ".schema",
    "format_sql_result": ".results",
    "named_database_urls": ".database",
    "parse_database_url": ".database",
    "read_only_violation": ".safety",
    "split_statements": ".safety",
}


__all__ = [
    "ColumnSchema",
    "DatabaseSchema",
    "RoleReport",
    "SqlDatabase",
    "SqlError",
    "SqlLimits",
    "SqlResult",
    "TableSchema",
    "format_sql_result",
    "named_database_urls",
    "parse_database_url",
    "read_only_violation",
    "split_statements",
]

__getattr__, __dir__ = _lazy_names(__name__, _SOURCES, __all__)
