"""What one `runpad mcp` server is allowed to do: sandbox, limits, databases, files, model.

Plain data, checked once at start (`McpSettings.check`), so that a bad option fails before
any client connects rather than at its first tool call.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from runpad.errors import ConfigurationError
from runpad.sandbox.limits import Limits

__all__ = ["LOOPBACK_HOSTS", "TOKEN_ENV", "McpSettings", "is_loopback"]

TOKEN_ENV = "RUNPAD_MCP_TOKEN"
"""The environment variable that holds the HTTP transport's bearer token."""

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


@dataclass(frozen=True)
class McpSettings:
    """The configuration of an MCP server.

    Attributes:
        sandbox: the backend of every session ("local", "docker", "e2b", "unsafe-local").
        limits: each sandbox session's limits (`timeout` is a cell's default time limit).
        max_cell_timeout: the longest `timeout` a client may ask for one cell.
        max_sessions: sandbox sessions alive at once (one per MCP session that used a
            tool, plus one per running analysis); a client over the bound gets an error.
        idle_seconds: a session unused this long is closed (its variables are lost).
        databases: name -> SQLAlchemy URL, for `run_sql` and `analyze`.
        allow_writes: let SQL write (off: every write is refused).
        files_dir: a host folder copied into each new session's work dir; the originals
            are never written.
        model: the analysis model ("local", "replay:PATH", "provider:model"; None: the
            default of `runpad run`).
        run_dir: where analyses keep their reports, notebooks and checkpoints.
        checkpoints: the analyses' checkpoint store (default: `run_dir/checkpoints.sqlite`).
        max_file_bytes: the largest file `read_file` returns and `write_file` accepts.
        max_files_dir_bytes: the largest `files_dir` copied into a session.
        max_output_chars: the size of the text a cell's result is cut to.
        host, port: where the HTTP transport listens.
        token: the bearer token HTTP clients must send (required off loopback).
        allowed_origins: browser origins allowed besides this machine's own.
    """

    sandbox: str = "local"
    limits: Limits = field(default_factory=Limits)
    max_cell_timeout: float = 600.0
    max_sessions: int = 8
    idle_seconds: float = 1800.0
    databases: dict[str, str] = field(default_factory=dict)
    allow_writes: bool = False
    files_dir: str | None = None
    model: str | None = None
    run_dir: str = "runs"
    checkpoints: str | None = None
    max_file_bytes: int = 10_000_000
    max_files_dir_bytes: int = 200_000_000
    max_output_chars: int = 8000
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    allowed_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_sessions < 1:
            raise ConfigurationError(f"--max-sessions must be at least 1, not {self.max_sessions}.")
        if self.idle_seconds <= 0:
            raise ConfigurationError(f"--idle-expiry must be positive, not {self.idle_seconds:g}.")
        if self.max_cell_timeout <= 0:
            raise ConfigurationError("--max-cell-timeout must be positive.")
        if self.max_file_bytes < 1:
            raise ConfigurationError("--max-file-bytes must be at least 1.")

    @property
    def checkpoint_store(self) -> str:
        """The checkpoint store analyses use: a PostgreSQL URL or a SQLite file."""
        return self.checkpoints or str(Path(self.run_dir) / "checkpoints.sqlite")

    def http_token(self) -> str | None:
        """The bearer token: `token`, else `$RUNPAD_MCP_TOKEN`; None when neither is set."""
        return self.token or os.environ.get(TOKEN_ENV) or None

    def check_http(self) -> None:
        """Refuse to serve HTTP off loopback without a token.

        Raises:
            ConfigurationError: bound beyond this machine and no token was given.
        """
        if not is_loopback(self.host) and self.http_token() is None:
            raise ConfigurationError(
                f"--host {self.host} accepts connections from other machines, and each client "
                "runs code here: give a bearer token with --token or "
                f"${TOKEN_ENV} (clients send 'Authorization: Bearer TOKEN'), or bind "
                "127.0.0.1."
            )
        if not 0 <= self.port <= 65535:
            raise ConfigurationError(f"--port must be between 0 and 65535, not {self.port}.")

    def check_files_dir(self) -> Path | None:
        """The files folder, resolved; None when there is none.

        Raises:
            ConfigurationError: it is missing, not a folder, or larger than allowed.
        """
        if self.files_dir is None:
            return None
        folder = Path(self.files_dir).resolve()
        if not folder.is_dir():
            raise ConfigurationError(f"--files {self.files_dir}: no such folder.")
        total = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
        if total > self.max_files_dir_bytes:
            raise ConfigurationError(
                f"--files {self.files_dir} holds {total} bytes; each session gets a copy, and "
                f"the limit is {self.max_files_dir_bytes} (--max-files-dir-bytes)."
            )
        return folder
