"""The MCP server: runpad's sandbox, SQL, Graphviz and analysis graph as MCP tools.

Built on the official SDK's low-level `Server` rather than its decorator layer, because
each MCP session owns state (a sandbox, its tables, its analyses) that the tools and the
resource listing must reach through the request: the low-level handlers see the request,
and argument errors become JSON-RPC errors instead of tool results.

Sessions are the SDK's handshake-era sessions: one stdio process serves one client, and
over HTTP the `Mcp-Session-Id` names the session. The stateless 2026-07-28 HTTP wire has
no session to keep a sandbox in, so such a request is refused with the handshake versions
this server supports, and clients fall back to the handshake.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import mcp.types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.context import CallNext, HandlerResult
from mcp.shared.exceptions import MCPError
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from runpad import __version__
from runpad.errors import SandboxError, SandboxFileError, SandboxTimeout
from runpad.mcp.analysis import AnalysisService
from runpad.mcp.content import (
    RUN_FILES,
    ContentBlock,
    execution_content,
    file_content,
    file_uri,
    guess_mime,
    parse_uri,
    run_uri,
    table_uri,
)
from runpad.mcp.sessions import McpSession, SessionLimitError, SessionRegistry
from runpad.mcp.settings import McpSettings
from runpad.sandbox.manager import SandboxManager
from runpad.sandbox.results import format_size
from runpad.sql import SqlDatabase, SqlLimits, format_sql_result
from runpad.tools import render_dot
from runpad.tools.python import RUN_PYTHON_DESCRIPTION

__all__ = ["SESSION_LIMIT", "STDIO_SESSION", "RunpadMcpServer"]

logger = logging.getLogger(__name__)

SESSION_LIMIT = -32010
"""JSON-RPC error code: the server runs as many sandbox sessions as it may."""
STDIO_SESSION = "stdio"
"""The session key of the stdio transport: its process serves one client."""

_MAX_LISTED_FILES = 1000

INSTRUCTIONS = """\
runpad runs Python in a hardened, stateful sandbox (a real CPython kernel with numpy, \
pandas, matplotlib, scipy, scikit-learn, statsmodels, networkx), SQL read-only on the \
server's databases, and Graphviz diagrams. Your session keeps its variables and its work \
dir between calls and shares nothing with other clients. `analyze` runs runpad's whole \
plan-code-run-review loop on a task and returns an answer with a report."""


# -- tool arguments ------------------------------------------------------------------------


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunPythonArgs(_Arguments):
    code: str = Field(description="Python source to run as one cell.")
    timeout: float | None = Field(
        default=None,
        gt=0,
        description="Seconds this cell may run before it is stopped; leave out for the "
        "server's default.",
    )


class RunSqlArgs(_Arguments):
    query: str = Field(description="The SQL to run, in the database's dialect.")
    database: str | None = Field(
        default=None,
        description="The database's name; leave out when the server has only one.",
    )


class RenderDotArgs(_Arguments):
    source: str = Field(description="The diagram in Graphviz DOT, e.g. 'digraph { a -> b }'.")
    name: str = Field(
        default="diagram",
        description="The file stem: NAME.dot, NAME.svg and NAME.png go in the work dir.",
    )


class ListFilesArgs(_Arguments):
    path: str = Field(default=".", description="A folder of the work dir (default: all of it).")


class ReadFileArgs(_Arguments):
    path: str = Field(description="The file's path, relative to the work dir.")


class WriteFileArgs(_Arguments):
    path: str = Field(description="Where to write, relative to the work dir.")
    content: str = Field(description="The file's content: text, or base64 with encoding=base64.")
    encoding: Literal["text", "base64"] = Field(
        default="text", description="'text' (UTF-8) or 'base64' for binary files."
    )


class AnalyzeArgs(_Arguments):
    task: str = Field(
        default="",
        description="The question or job, in words. May be left out when continuing an "
        "earlier analysis by thread_id.",
    )
    files: list[str] = Field(
        default_factory=list,
        description="Input files: paths in this session's work dir (or in the server's "
        "shared files folder); the analysis gets copies.",
    )
    databases: list[str] | None = Field(
        default=None,
        description="Names of the server's databases the analysis may query (default: all).",
    )
    thread_id: str | None = Field(
        default=None,
        description="Continue the analysis with this thread id (after an interruption or a "
        "server restart), or give a new analysis this id.",
    )

    @model_validator(mode="after")
    def _task_or_thread(self) -> AnalyzeArgs:
        if not self.task.strip() and not self.thread_id:
            raise ValueError("give a `task`, or the `thread_id` of an analysis to continue")
        return self


class ResetSessionArgs(_Arguments):
    pass


Handler = Callable[
    [ServerRequestContext[Any, Any], McpSession, Any], Awaitable[types.CallToolResult]
]


@dataclass(frozen=True)
class _ToolSpec:
    name: str
    title: str
    description: str
    arguments: type[_Arguments]
    handler: Handler
    annotations: types.ToolAnnotations

    def tool(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=self.arguments.model_json_schema(),
            annotations=self.annotations,
        )


def _text_result(text: str, *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=error)


# -- the server ------------------------------------------------------------------------------


class RunpadMcpServer:
    """runpad as an MCP server: build it from settings, serve it over a transport.

    Args:
        settings: what the server may do (checked here: a bad files folder raises).

    Example:
        ```python
        server = RunpadMcpServer(McpSettings(sandbox="local"))
        await serve_stdio(server)  # or serve_http(server)
        ```
    """

    def __init__(self, settings: McpSettings) -> None:
        self.settings = settings
        self.registry = SessionRegistry(
            SandboxManager(settings.sandbox, limits=settings.limits),
            max_sessions=settings.max_sessions,
            idle_seconds=settings.idle_seconds,
            files_dir=settings.check_files_dir(),
        )
        self.databases = {
            name: SqlDatabase(
                url, name=name, allow_writes=settings.allow_writes, limits=SqlLimits()
            )
            for name, url in settings.databases.items()
        }
        self.analyses = AnalysisService(settings, self.registry)
        self.tools = {spec.name: spec for spec in self._tool_specs()}
        self.server: Server[None] = Server(
            "runpad",
            version=__version__,
            title="runpad",
            instructions=INSTRUCTIONS,
            lifespan=self._lifespan,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_resource_templates,
            on_read_resource=self._read_resource,
        )
        self.server.middleware.append(self._require_session)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _: Server[None]) -> AsyncIterator[None]:
        await self.registry.start()
        try:
            yield None
        finally:
            await self.registry.aclose()
            await asyncio.to_thread(self._close_databases)

    def _close_databases(self) -> None:
        for database in self.databases.values():
            database.close()

    # -- sessions -------------------------------------------------------------------------------

    async def _require_session(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        """Refuse the stateless HTTP wire, which has no session to keep a sandbox in."""
        if ctx.request is not None and ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            raise MCPError(
                code=types.UNSUPPORTED_PROTOCOL_VERSION,
                message="runpad keeps a sandbox session per client, which the stateless "
                f"{ctx.protocol_version} HTTP protocol has no place for; connect with the "
                "initialize handshake (one of the supported versions).",
                data={
                    "supported": list(HANDSHAKE_PROTOCOL_VERSIONS),
                    "requested": ctx.protocol_version,
                },
            )
        return await call_next(ctx)

    @staticmethod
    def session_key(ctx: ServerRequestContext[Any, Any]) -> str:
        """The MCP session a request belongs to: its Mcp-Session-Id, or the stdio client."""
        request = ctx.request
        if request is None:
            return STDIO_SESSION
        session_id = getattr(request, "headers", {}).get("mcp-session-id")
        if not session_id:
            raise MCPError(
                code=types.INVALID_REQUEST,
                message="This request carries no Mcp-Session-Id; initialize a session first.",
            )
        return f"http:{session_id}"

    # -- tools ----------------------------------------------------------------------------------

    def _tool_specs(self) -> list[_ToolSpec]:
        limits = self.settings.limits
        databases = ", ".join(
            f"{name} ({db.dialect}{'' if db.allow_writes else ', read-only'})"
            for name, db in self.databases.items()
        )
        session_note = (
            f" Cells stop after {limits.timeout:g} s unless `timeout` says otherwise (at most "
            f"{self.settings.max_cell_timeout:g} s); the session has {limits.memory_mb} MB of "
            "memory. Figures come back as PNG images, data frames as a table and a CSV "
            "resource, errors with their traceback."
        )
        return [
            _ToolSpec(
                "run_python",
                "Run Python",
                RUN_PYTHON_DESCRIPTION + session_note,
                RunPythonArgs,
                self._run_python,
                types.ToolAnnotations(read_only_hint=False, open_world_hint=False),
            ),
            _ToolSpec(
                "run_sql",
                "Run SQL",
                "Run SQL on one of the server's databases and see the rows as a table (the "
                "whole result as a CSV resource). Read-only unless the server allows writes: "
                "statements that change anything are refused. Databases: "
                + (databases or "none (the server was started without --db)."),
                RunSqlArgs,
                self._run_sql,
                types.ToolAnnotations(read_only_hint=not self.settings.allow_writes),
            ),
            _ToolSpec(
                "render_dot",
                "Render a Graphviz diagram",
                "Render a Graphviz DOT diagram in the sandbox; returns it as PNG and SVG. A "
                "syntax error comes back with Graphviz's message.",
                RenderDotArgs,
                self._render_dot,
                types.ToolAnnotations(read_only_hint=False, destructive_hint=False),
            ),
            _ToolSpec(
                "list_files",
                "List files",
                "List the files of this session's work dir (the current directory of "
                "run_python), with their sizes.",
                ListFilesArgs,
                self._list_files,
                types.ToolAnnotations(read_only_hint=True),
            ),
            _ToolSpec(
                "read_file",
                "Read a file",
                "Read a file of this session's work dir: text as text, images as images, "
                f"other files as base64 (at most {format_size(self.settings.max_file_bytes)}).",
                ReadFileArgs,
                self._read_file,
                types.ToolAnnotations(read_only_hint=True),
            ),
            _ToolSpec(
                "write_file",
                "Write a file",
                "Write a file into this session's work dir, for run_python to read (at most "
                f"{format_size(self.settings.max_file_bytes)}).",
                WriteFileArgs,
                self._write_file,
                types.ToolAnnotations(read_only_hint=False, idempotent_hint=True),
            ),
            _ToolSpec(
                "analyze",
                "Analyze a task",
                "Hand a whole task to runpad's analysis loop: it plans, writes and runs code "
                "in its own sandbox, reviews each result and repairs, then answers with a "
                "report and a notebook. Progress arrives as progress notifications. Every "
                "step is checkpointed: an interrupted analysis continues with its thread_id.",
                AnalyzeArgs,
                self._analyze,
                types.ToolAnnotations(read_only_hint=False, open_world_hint=True),
            ),
            _ToolSpec(
                "reset_session",
                "Reset the session",
                "Close this session's sandbox: variables, files and tables are gone; the next "
                "call starts a fresh one.",
                ResetSessionArgs,
                self._reset_session,
                types.ToolAnnotations(read_only_hint=False, destructive_hint=True),
            ),
        ]

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[spec.tool() for spec in self.tools.values()])

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        spec = self.tools.get(params.name)
        if spec is None:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"Unknown tool {params.name!r}; the tools are: {', '.join(self.tools)}.",
            )
        try:
            arguments = spec.arguments.model_validate(params.arguments or {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, error['loc'])) or 'arguments'}: {error['msg']}"
                for error in exc.errors()
            )
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"Invalid arguments for {spec.name}: {problems}",
            ) from None
        key = self.session_key(ctx)
        async with self.registry.use(key) as session:
            try:
                return await spec.handler(ctx, session, arguments)
            except SessionLimitError as exc:
                raise MCPError(code=SESSION_LIMIT, message=str(exc)) from None
            except (SandboxFileError, SandboxTimeout) as exc:
                return _text_result(str(exc), error=True)
            except SandboxError as exc:
                raise MCPError(
                    code=types.INTERNAL_ERROR,
                    message=f"The {self.settings.sandbox} sandbox failed: {exc}",
                ) from None

    async def _run_python(
        self, ctx: ServerRequestContext[Any, Any], session: McpSession, args: RunPythonArgs
    ) -> types.CallToolResult:
        sandbox, note = await self.registry.sandbox(session.key)
        timeout = min(args.timeout or self.settings.limits.timeout, self.settings.max_cell_timeout)
        try:
            execution = await sandbox.run(args.code, timeout=timeout)
        except anyio.get_cancelled_exc_class():
            # The client cancelled the call: stop the cell, as Ctrl-C would, so the session
            # is free for the next one.
            with anyio.CancelScope(shield=True), contextlib.suppress(SandboxError):
                await sandbox.interrupt()
            raise
        content = execution_content(
            execution, session, max_chars=self.settings.max_output_chars, note=note
        )
        return types.CallToolResult(content=content, is_error=not execution.ok)

    async def _run_sql(
        self, ctx: ServerRequestContext[Any, Any], session: McpSession, args: RunSqlArgs
    ) -> types.CallToolResult:
        if not self.databases:
            return _text_result(
                "This server has no databases; it must be started with --db NAME=URL.",
                error=True,
            )
        if args.database is None:
            if len(self.databases) > 1:
                return _text_result(
                    f"Say which database: one of {', '.join(self.databases)}.", error=True
                )
            database = next(iter(self.databases.values()))
        elif args.database in self.databases:
            database = self.databases[args.database]
        else:
            return _text_result(
                f"There is no database named {args.database!r}; there are: "
                f"{', '.join(self.databases)}.",
                error=True,
            )
        result = await database.arun(args.query)
        text = format_sql_result(result)
        if result.error is not None and result.error.name == "StatementRefused":
            text += "\n(This MCP server's owner enables writes with `runpad mcp --allow-writes`.)"
        content: list[ContentBlock] = [types.TextContent(text=text)]
        if result.ok and result.columns:
            csv_text = await asyncio.to_thread(result.to_csv)
            name = session.add_table(csv_text)
            content.append(
                types.ResourceLink(
                    uri=table_uri(name),
                    name=name,
                    mime_type="text/csv",
                    size=len(csv_text.encode()),
                    description=f"the whole result of the query on {database.name}",
                )
            )
        return types.CallToolResult(content=content, is_error=not result.ok)

    async def _render_dot(
        self, ctx: ServerRequestContext[Any, Any], session: McpSession, args: RenderDotArgs
    ) -> types.CallToolResult:
        sandbox, note = await self.registry.sandbox(session.key)
        execution = await render_dot(
            sandbox, args.source, args.name, timeout=self.settings.limits.timeout
        )
        if execution.error is not None:
            content = execution_content(
                execution, session, max_chars=self.settings.max_output_chars, note=note
            )
            return types.CallToolResult(content=content, is_error=True)
        rendered = {a.name.rsplit(".", 1)[-1]: a.name for a in execution.artifacts}
        content = [types.TextContent(text=(execution.stdout + execution.stderr).strip())]
        if "png" in rendered:
            png = await sandbox.download(rendered["png"])
            content.append(
                types.ImageContent(data=base64.b64encode(png).decode(), mime_type="image/png")
            )
        if "svg" in rendered:
            svg = await sandbox.download(rendered["svg"])
            content.append(
                types.EmbeddedResource(
                    resource=types.TextResourceContents(
                        uri=file_uri(rendered["svg"]),
                        mime_type="image/svg+xml",
                        text=svg.decode("utf-8", errors="replace"),
                    )
                )
            )
        return types.CallToolResult(content=content)

    async def _list_files(
        self, ctx: ServerRequestContext[Any, Any], session: McpSession, args: ListFilesArgs
    ) -> types.CallToolResult:
        sandbox, note = await self.registry.sandbox(session.key)
        entries = await sandbox.list_files(args.path)
        lines = [note] if note else []
        for entry in entries[:_MAX_LISTED_FILES]:
            lines.append(
                f"{entry.name}/" if entry.is_dir else f"{entry.name}  {format_size(entry.size)}"
            )
        if len(entries) > _MAX_LISTED_FILES:
            lines.append(f"... and {len(entries) - _MAX_LISTED_FILES} more; list a subfolder.")
        if not entries:
            lines.append(f"{args.path} is empty.")
        return _text_result("\n".join(lines))

    async def _read_file(
        self, ctx: ServerRequestContext[Any, Any], session: McpSession, args: ReadFileArgs
    ) -> types.CallToolResult:
        sandbox, _ = await self.registry.sandbox(session.key)
        data = await sandbox.download(args.path)
        if len(data) > self.settings.max_file_bytes:
            return _text_result(
                f"{args.path} is {format_size(len(data))}, more than read_file returns "
                f"({format_size(self.settings.max_file_bytes)}); read a part of it with "
                "run_python, or read the resource "
                f"{file_uri(args.path)}.",
                error=True,
            )
        return types.CallToolResult(content=[file_content(args.path, data)])

    async def _write_file(
        self, ctx: ServerRequestContext[Any, Any], session: McpSession, args: WriteFileArgs
    ) -> types.CallToolResult:
        if args.encoding == "base64":
            try:
                data = base64.b64decode(args.content, validate=True)
            except (binascii.Error, ValueError) as exc:
                return _text_result(f"content is not valid base64: {exc}", error=True)
        else:
            data = args.content.encode("utf-8")
        if len(data) > self.settings.max_file_bytes:
            return _text_result(
                f"The file would be {format_size(len(data))}; write_file takes at most "
                f"{format_size(self.settings.max_file_bytes)}. Write it in parts with run_python.",
                error=True,
            )
        sandbox, note = await self.registry.sandbox(session.key)
        info = await sandbox.upload(data, args.path)
        text = f"Wrote {info.name} ({format_size(info.size)})."
        return _text_result(f"{note}\n{text}" if note else text)

    async def _analyze(
        self, ctx: ServerRequestContext[Any, Any], session: McpSession, args: AnalyzeArgs
    ) -> types.CallToolResult:
        sent = 0

        async def report(message: str) -> None:
            nonlocal sent
            sent += 1
            await ctx.session.report_progress(sent, None, message)

        return await self.analyses.analyze(
            session,
            task=args.task,
            files=args.files,
            databases=args.databases,
            thread_id=args.thread_id,
            report=report,
        )

    async def _reset_session(
        self, ctx: ServerRequestContext[Any, Any], session: McpSession, args: ResetSessionArgs
    ) -> types.CallToolResult:
        running = await self.registry.reset(session.key)
        if running:
            return _text_result("The session was closed; the next call starts a fresh one.")
        return _text_result("The session had no running sandbox; the next call starts one.")

    # -- resources --------------------------------------------------------------------------

    async def _list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        key = self.session_key(ctx)
        session = self.registry.session(key)
        resources: list[types.Resource] = []
        sandbox = await self.registry.running_sandbox(key)
        if sandbox is not None:
            for entry in (await sandbox.list_files("."))[:_MAX_LISTED_FILES]:
                if not entry.is_dir:
                    resources.append(
                        types.Resource(
                            uri=file_uri(entry.name),
                            name=entry.name,
                            mime_type=guess_mime(entry.name),
                            size=entry.size,
                            description="a file in this session's work dir",
                        )
                    )
        for name, csv_text in session.tables.items():
            resources.append(
                types.Resource(
                    uri=table_uri(name),
                    name=name,
                    mime_type="text/csv",
                    size=len(csv_text.encode()),
                    description="a data frame or query result of this session, as CSV",
                )
            )
        for thread in session.runs:
            directory = Path(self.settings.run_dir) / thread
            for file, mime in RUN_FILES.items():
                if await anyio.Path(directory / file).is_file():
                    resources.append(
                        types.Resource(
                            uri=run_uri(thread, file),
                            name=f"{thread}/{file}",
                            mime_type=mime,
                            description=f"analysis {thread}: {file}",
                        )
                    )
        return types.ListResourcesResult(resources=resources)

    async def _list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    uri_template="runpad://session/files/{path}",
                    name="session file",
                    description="A file in this session's sandbox work dir.",
                ),
                types.ResourceTemplate(
                    uri_template="runpad://session/tables/{name}",
                    name="session table",
                    description="A data frame or query result of this session, as CSV.",
                    mime_type="text/csv",
                ),
                types.ResourceTemplate(
                    uri_template="runpad://runs/{thread_id}/{file}",
                    name="analysis file",
                    description="answer.md, report.md or notebook.ipynb of an analysis this "
                    "session ran.",
                ),
            ]
        )

    async def _read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        key = self.session_key(ctx)
        session = self.registry.session(key)
        parsed = parse_uri(uri)
        data: bytes | str | None = None
        mime = "application/octet-stream"
        if parsed is not None and parsed.kind == "table":
            data, mime = session.tables.get(parsed.name), "text/csv"
        elif parsed is not None and parsed.kind == "run" and parsed.name in session.runs:
            path = anyio.Path(self.settings.run_dir) / parsed.name / parsed.file
            if await path.is_file():
                data, mime = await path.read_bytes(), RUN_FILES[parsed.file]
        elif parsed is not None and parsed.kind == "file":
            sandbox = await self.registry.running_sandbox(key)
            if sandbox is not None:
                with contextlib.suppress(SandboxFileError):
                    data, mime = await sandbox.download(parsed.name), guess_mime(parsed.name)
        if data is None:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"No resource {uri} in this session (resources/list shows what there is).",
                data={"uri": uri},
            )
        if isinstance(data, str):
            return types.ReadResourceResult(
                contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=data)]
            )
        if mime.startswith("text/") or mime in ("application/json", "application/x-ipynb+json"):
            with contextlib.suppress(UnicodeDecodeError):
                return types.ReadResourceResult(
                    contents=[
                        types.TextResourceContents(uri=uri, mime_type=mime, text=data.decode())
                    ]
                )
        blob = base64.b64encode(data).decode()
        return types.ReadResourceResult(
            contents=[types.BlobResourceContents(uri=uri, mime_type=mime, blob=blob)]
        )
