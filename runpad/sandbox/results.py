"""What a cell produced: output streams, rich results, the error, artifacts.

Every type here is a frozen dataclass that converts to and from plain JSON (`to_dict` /
`from_dict`), because executions end up in graph state and in checkpoints, where only
JSON-native data is safe.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = [
    "Artifact",
    "Execution",
    "ExecutionError",
    "FileInfo",
    "Language",
    "OutputCallback",
    "OutputChunk",
    "RichResult",
    "StreamName",
    "format_size",
]

Language: TypeAlias = Literal["python", "shell", "javascript", "typescript"]
"""What a cell is written in. JavaScript and TypeScript cells run in a Deno kernel of the same
session (`runpad.sandbox.kernel.deno`), where the backend has one (`Sandbox.languages`)."""
StreamName: TypeAlias = Literal["stdout", "stderr"]
JSONValue: TypeAlias = Any  # a value `json.dumps` accepts; MIME payloads are str or JSON objects


@dataclass(frozen=True)
class OutputChunk:
    """A piece of stdout or stderr, as it arrived while the cell ran."""

    stream: StreamName
    text: str


OutputCallback: TypeAlias = Callable[[OutputChunk], Awaitable[None] | None]
"""The live output hook, `on_output(chunk)`: a plain function or a coroutine function."""


@dataclass(frozen=True)
class RichResult:
    """One displayed object as a MIME bundle, like a notebook output.

    Attributes:
        data: MIME type to payload. Text types hold `str`, `image/png` holds base64 text,
            JSON types hold the decoded object.
        is_main_result: True for the value of the cell's last expression, False for
            objects shown with `display()` or figures.
    """

    data: dict[str, JSONValue]
    is_main_result: bool = False

    @property
    def text(self) -> str | None:
        value = self.data.get("text/plain")
        return value if isinstance(value, str) else None

    @property
    def png(self) -> bytes | None:
        value = self.data.get("image/png")
        return base64.b64decode(value) if isinstance(value, str) else None

    @property
    def html(self) -> str | None:
        value = self.data.get("text/html")
        return value if isinstance(value, str) else None

    @property
    def table(self) -> dict[str, JSONValue] | None:
        """A data frame as Frictionless table data: `{"schema": ..., "data": [rows]}`."""
        value = self.data.get("application/vnd.dataresource+json")
        return value if isinstance(value, dict) else None

    @property
    def mime_types(self) -> list[str]:
        return sorted(self.data)


@dataclass(frozen=True)
class ExecutionError:
    """An exception raised by the executed code, as the model should see it."""

    name: str
    value: str
    traceback: str = ""

    def __str__(self) -> str:
        return self.traceback or f"{self.name}: {self.value}"


@dataclass(frozen=True)
class Artifact:
    """A file the cell created or changed in the work dir, or a spilled output.

    `name` is the path relative to the work dir; read the bytes with `Sandbox.download(name)`.
    `sha256` is empty when the host did not hash the file: a sparse file, or past what it
    reads per cell (`Limits.hash_bytes`) or in its time (`Limits.artifact_seconds`).
    """

    name: str
    size: int
    mime_type: str
    sha256: str


def format_size(size: int) -> str:
    """A byte count as people read it: "512 B", "3.4 kB", "1.2 MB"."""
    if size < 1000:
        return f"{size} B"
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    return f"{size / 1_000_000:.1f} MB"


@dataclass(frozen=True)
class FileInfo:
    """An entry of `Sandbox.list_files`."""

    name: str
    size: int
    is_dir: bool


@dataclass(frozen=True)
class Execution:
    """Everything one cell produced. An error in the code is `error`, never an exception.

    Attributes:
        stdout, stderr: the streams; past the output cap they keep head and tail, and the
            whole stream is in an artifact named in `stdout_spill` / `stderr_spill`.
        results: rich results in the order they were displayed; one over the output limit
            is a text preview that names the spill files holding its payloads.
        error: the exception the code raised, or None.
        duration_ms: wall time of the cell as seen by the host.
        execution_count: the kernel's counter (`In [n]`), None if the cell never started.
        artifacts: files created or changed in the work dir by this cell (at most
            `Limits.max_artifacts`, runpad's own spill files first).
        timed_out: the cell hit its wall-clock limit and was interrupted.
        restarted: the kernel had to be restarted during this cell (it died, or did not stop
            when interrupted); variables from earlier cells are gone.
        results_omitted: rich results dropped (past `Limits.max_results`, or no room left).
        artifacts_omitted: changed files not listed in `artifacts` ("and N more files").
        artifacts_complete: False when the host stopped looking for changed files at its
            time limit (`Limits.artifact_seconds`): more files may have changed.
    """

    stdout: str = ""
    stderr: str = ""
    results: list[RichResult] = field(default_factory=list)
    error: ExecutionError | None = None
    duration_ms: float = 0.0
    execution_count: int | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    stdout_spill: str | None = None
    stderr_spill: str | None = None
    timed_out: bool = False
    restarted: bool = False
    language: Language = "python"
    results_omitted: int = 0
    artifacts_omitted: int = 0
    artifacts_complete: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def main_result(self) -> RichResult | None:
        return next((r for r in self.results if r.is_main_result), None)

    @property
    def text(self) -> str | None:
        """The text/plain form of the last expression's value, if there was one."""
        main = self.main_result
        return main.text if main else None

    @property
    def images(self) -> list[bytes]:
        return [png for r in self.results if (png := r.png) is not None]

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON-native form; `duration_ms` rounded, results keyed by MIME type."""
        data = asdict(self)
        data["duration_ms"] = round(self.duration_ms, 3)
        return data

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, JSONValue]) -> Execution:
        error = data.get("error")
        return cls(
            **{
                **data,
                "results": [RichResult(**r) for r in data.get("results", [])],
                "error": ExecutionError(**error) if error else None,
                "artifacts": [Artifact(**a) for a in data.get("artifacts", [])],
            }
        )
