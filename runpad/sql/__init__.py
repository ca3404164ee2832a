"""SQL for models: a database reached through SQLAlchemy, read-only unless writes are allowed.

| module | what it does |
|---|---|
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

from runpad.sql.database import SqlDatabase, SqlLimits, named_database_urls, parse_database_url
from runpad.sql.results import SqlError, SqlResult, format_sql_result
from runpad.sql.roles import RoleReport
from runpad.sql.safety import read_only_violation, split_statements
from runpad.sql.schema import ColumnSchema, DatabaseSchema, TableSchema

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
