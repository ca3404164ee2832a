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

from typing import TYPE_CHECKING

from runpad.lazy import lazy_names as _lazy_names

if TYPE_CHECKING:
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

# Each tool loads on first use: the graph needs only some of them (search, dot, docs), and
# the SQL tool's SQLAlchemy and sqlglot are for runs with databases.
_SOURCES = {
    "DatabaseSchema": "runpad.sql",
    "SqlDatabase": "runpad.sql",
    "SqlError": "runpad.sql",
    "SqlLimits": "runpad.sql",
    "SqlResult": "runpad.sql",
    "TableSchema": "runpad.sql",
    "format_sql_result": "runpad.sql",
    "read_only_violation": "runpad.sql",
    "split_statements": "runpad.sql",
    "LOOKUP_DOCS_DESCRIPTION": ".docs",
    "DocEntry": ".docs",
    "LookupDocsInput": ".docs",
    "LookupDocsTool": ".docs",
    "format_docs": ".docs",
    "lookup_docs": ".docs",
    "names_from_error": ".docs",
    "names_from_text": ".docs",
    "RENDER_DOT_DESCRIPTION": ".dot",
    "RenderDotInput": ".dot",
    "RenderDotTool": ".dot",
    "render_dot": ".dot",
    "RUN_PYTHON_DESCRIPTION": ".python",
    "RunPythonInput": ".python",
    "RunPythonTool": ".python",
    "format_execution": ".python",
    "WEB_SEARCH_DESCRIPTION": ".search",
    "SearchHit": ".search",
    "SearchOutcome": ".search",
    "SearchProvider": ".search",
    "WebSearchInput": ".search",
    "WebSearchTool": ".search",
    "format_search": ".search",
    "search_web": ".search",
    "SandboxSource": ".session",
    "SandboxTool": ".session",
    "RUN_SQL_DESCRIPTION": ".sql",
    "RunSqlInput": ".sql",
    "RunSqlTool": ".sql",
}

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

__getattr__, __dir__ = _lazy_names(__name__, _SOURCES, __all__)
