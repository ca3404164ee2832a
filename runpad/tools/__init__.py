"""LangChain tools, usable by any LangChain or LangGraph agent, and the executors under them.

| tool | class | what it does |
|---|---|---|
| `run_python` | `RunPythonTool` | a cell in a stateful sandbox session |
| `run_sql` | `RunSqlTool` | SQL against a SQLAlchemy URL, read-only unless writes are allowed |
| `render_dot` | `RenderDotTool` | a Graphviz diagram, rendered to SVG and PNG inside the sandbox |
| `web_search` | `WebSearchTool` | titles, URLs and snippets from ddgs or a provider you plug in |
| `lookup_docs` | `LookupDocsTool` | signatures and docstrings from the sandbox's own packages |

The analysis graph uses the same executors (`SqlDatabase` of `runpad.sql`, `render_dot`,
`search_web`, `lookup_docs`) directly.
"""

from runpad.sql import (
    DatabaseSchema,
    SqlDatabase,
    SqlError,
    SqlLimits,
    SqlResult,
    TableSchema,
    format_sql_result,
    read_only_violation,
    split_statements,
)
from runpad.tools.docs import (
    LOOKUP_DOCS_DESCRIPTION,
    DocEntry,
    LookupDocsInput,
    LookupDocsTool,
    format_docs,
    lookup_docs,
    names_from_error,
    names_from_text,
)
from runpad.tools.dot import RENDER_DOT_DESCRIPTION, RenderDotInput, RenderDotTool, render_dot
from runpad.tools.python import (
    RUN_PYTHON_DESCRIPTION,
    RunPythonInput,
    RunPythonTool,
    format_execution,
)
from runpad.tools.search import (
    WEB_SEARCH_DESCRIPTION,
    SearchHit,
    SearchOutcome,
    SearchProvider,
    WebSearchInput,
    WebSearchTool,
    format_search,
    search_web,
)
from runpad.tools.session import SandboxSource, SandboxTool
from runpad.tools.sql import RUN_SQL_DESCRIPTION, RunSqlInput, RunSqlTool

__all__ = [
    "LOOKUP_DOCS_DESCRIPTION",
    "RENDER_DOT_DESCRIPTION",
    "RUN_PYTHON_DESCRIPTION",
    "RUN_SQL_DESCRIPTION",
    "WEB_SEARCH_DESCRIPTION",
    "DatabaseSchema",
    "DocEntry",
    "LookupDocsInput",
    "LookupDocsTool",
    "RenderDotInput",
    "RenderDotTool",
    "RunPythonInput",
    "RunPythonTool",
    "RunSqlInput",
    "RunSqlTool",
    "SandboxSource",
    "SandboxTool",
    "SearchHit",
    "SearchOutcome",
    "SearchProvider",
    "SqlDatabase",
    "SqlError",
    "SqlLimits",
    "SqlResult",
    "TableSchema",
    "WebSearchInput",
    "WebSearchTool",
    "format_docs",
    "format_execution",
    "format_search",
    "format_sql_result",
    "lookup_docs",
    "names_from_error",
    "names_from_text",
    "read_only_violation",
    "render_dot",
    "search_web",
    "split_statements",
]
