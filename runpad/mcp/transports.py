"""Serving the MCP server: stdio for desktop clients, streamable HTTP for the rest.

The HTTP transport puts a guard in front of the SDK's session manager:

- `Origin`: a browser page may only reach the server from this machine's own origins or
  the ones allowed with `--allow-origin` (the spec's DNS-rebinding rule); requests without
  an Origin (every non-browser client) pass.
- `Host`: bound to loopback, the Host header must name loopback too, so a rebound DNS
  name (evil.example -> 127.0.0.1) is refused even without an Origin.
- a bearer token, when one is set, on every request; off loopback it is required, and the
  server refuses to start without one (`McpSettings.check_http`).

A DELETE that ends a session closes its sandbox at once; sessions that just go away are
closed by the idle expiry, the same time after which the SDK forgets them.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import anyio
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from runpad.mcp.server import RunpadMcpServer
from runpad.mcp.settings import is_loopback

__all__ = ["HttpGuard", "build_http_app", "serve_http", "serve_stdio"]

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_MCP_SESSIONS_PER_SANDBOX = 4


async def serve_stdio(server: RunpadMcpServer) -> None:
    """Serve one client over this process's stdin and stdout until it disconnects.

    The SDK points fd 1 at stderr while it serves, so nothing a sandbox or a library prints
    can corrupt the protocol stream. Every session is closed on the way out.
    """
    lowlevel = server.server
    async with stdio_server() as (read_stream, write_stream):
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}
    return Response(
        json.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


class HttpGuard:
    """ASGI middleware: Origin, Host and bearer-token checks before the MCP endpoint.

    Args:
        app: the MCP endpoint.
        token: the bearer token every request must carry, or None for none.
        loopback: the server is bound to loopback (Host must then name loopback).
        allowed_origins: browser origins allowed besides this machine's own.
        on_session_end: called with the Mcp-Session-Id of a session a DELETE ended.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        loopback: bool,
        allowed_origins: tuple[str, ...] = (),
        on_session_end: Callable[[str], Any] | None = None,
    ) -> None:
        self.app = app
        self.token = token
        self.loopback = loopback
        self.allowed_origins = {origin.rstrip("/").lower() for origin in allowed_origins}
        self.on_session_end = on_session_end

    def origin_allowed(self, origin: str) -> bool:
        if origin.rstrip("/").lower() in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and (parts.hostname or "") in _LOOPBACK_NAMES

    @staticmethod
    def host_is_loopback(host: str) -> bool:
        hostname = urlsplit(f"//{host}").hostname or ""
        return hostname in _LOOPBACK_NAMES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)
        session_id = headers.get("mcp-session-id")
        if scope.get("method") == "DELETE" and session_id and self.on_session_end is not None:
            await self.on_session_end(session_id)

    def _refusal(self, headers: Headers) -> Response | None:
        origin = headers.get("origin")
        if origin is not None and not self.origin_allowed(origin):
            logger.warning("refused a request from origin %r", origin[:200])
            return _error(
                403,
                f"Origin {origin!r} may not use this server; start it with --allow-origin "
                f"{origin} to allow that page.",
            )
        if self.loopback and not self.host_is_loopback(headers.get("host", "")):
            return _error(
                421,
                "This server only answers requests addressed to localhost (DNS-rebinding "
                "protection).",
            )
        if self.token is not None:
            scheme, _, given = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self.token.encode()
            ):
                return _error(
                    401,
                    "This server needs 'Authorization: Bearer TOKEN' with the token it was "
                    "started with.",
                    {"WWW-Authenticate": 'Bearer realm="runpad"'},
                )
        return None


def build_http_app(server: RunpadMcpServer) -> Starlette:
    """The ASGI app of the streamable HTTP transport, at /mcp, guarded (see the module)."""
    settings = server.settings
    manager = StreamableHTTPSessionManager(
        app=server.server,
        session_idle_timeout=settings.idle_seconds,
        # MCP sessions without a sandbox cost little: allow more of them than sandboxes,
        # so that a client over the sandbox bound still connects and gets the clear error
        # of its first tool call, while a flood of connections is still refused.
        max_sessions=_MCP_SESSIONS_PER_SANDBOX * settings.max_sessions,
    )

    async def end_session(session_id: str) -> None:
        await server.registry.end(f"http:{session_id}")

    guard = HttpGuard(
        manager.handle_request,
        token=settings.http_token(),
        loopback=is_loopback(settings.host),
        allowed_origins=settings.allowed_origins,
        on_session_end=end_session,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    return Starlette(routes=[Route(MCP_PATH, endpoint=guard)], lifespan=lifespan)


async def serve_http(
    server: RunpadMcpServer, *, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve the streamable HTTP transport until interrupted (SIGINT / SIGTERM).

    Args:
        on_ready: called with the endpoint's URL once the server listens (with port 0,
            the URL names the port the system chose).
    """
    import uvicorn

    settings = server.settings
    settings.check_http()
    config = uvicorn.Config(
        build_http_app(server),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # An open GET stream would otherwise hold a shutdown forever.
        timeout_graceful_shutdown=5,
    )
    http = uvicorn.Server(config)

    async def announce() -> None:
        while not http.started:
            if http.should_exit:
                return
            await anyio.sleep(0.05)
        host, port = http.servers[0].sockets[0].getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{port}{MCP_PATH}"
        if on_ready is not None:
            on_ready(url)
        else:
            print(f"runpad MCP server listening on {url}", file=sys.stderr, flush=True)

    async with anyio.create_task_group() as group:
        group.start_soon(announce)
        await http.serve()
        group.cancel_scope.cancel()
