"""The node side of the ray backend: an actor that holds one sandbox session on its node.

The class is plain Python; `runpad.sandbox.ray.sandbox` makes it a Ray actor with the
placement options of each session. Its methods are async, so Ray runs them on one event
loop in the actor's process, concurrently: `interrupt` reaches a cell that `run` is running.

A runpad error raised on the node comes back as a `RemoteFailure` value, not as an
exception, so that errors whose constructor takes other arguments than the message cross the
process boundary intact (Ray pickles an exception by its `args`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from runpad.errors import RunpadError
from runpad.sandbox.base import Sandbox
from runpad.sandbox.factory import open_sandbox
from runpad.sandbox.limits import Limits
from runpad.sandbox.results import Execution, FileInfo, Language, OutputChunk

__all__ = ["RemoteFailure", "SandboxActor", "SessionPlace"]


@dataclass(frozen=True)
class RemoteFailure:
    """A runpad error raised on the node: its class name in `runpad.errors` and message."""

    error: str
    message: str

    @classmethod
    def of(cls, exc: RunpadError) -> RemoteFailure:
        return cls(type(exc).__name__, str(exc))


@dataclass(frozen=True)
class SessionPlace:
    """Where a session runs: the Ray node's id and address, and the actor's process id."""

    node_id: str
    node_ip: str
    pid: int


class SandboxActor:
    """Holds one started session of the inner backend (`local`, `docker`) on its node."""

    def __init__(self, backend: str, limits: Limits, options: dict[str, Any]) -> None:
        self._sandbox: Sandbox = open_sandbox(backend, limits=limits, **options)

    async def start(self) -> SessionPlace | RemoteFailure:
        import os

        import ray

        try:
            await self._sandbox.start()
        except RunpadError as exc:
            return RemoteFailure.of(exc)
        context = ray.get_runtime_context()
        node_ip = ray.util.get_node_ip_address()
        return SessionPlace(node_id=context.get_node_id(), node_ip=node_ip, pid=os.getpid())

    async def run(
        self, code: str, language: Language, timeout: float
    ) -> AsyncIterator[OutputChunk | Execution | RemoteFailure]:
        """Stream the cell's output chunks as they come, then its Execution (or a failure)."""
        try:
            async for item in self._sandbox.stream(code, language=language, timeout=timeout):
                yield item
        except RunpadError as exc:
            yield RemoteFailure.of(exc)

    async def interrupt(self) -> RemoteFailure | None:
        try:
            await self._sandbox.interrupt()
        except RunpadError as exc:
            return RemoteFailure.of(exc)
        return None

    async def restart(self) -> RemoteFailure | None:
        try:
            await self._sandbox.restart()
        except RunpadError as exc:
            return RemoteFailure.of(exc)
        return None

    async def upload(self, data: bytes, dest: str) -> FileInfo | RemoteFailure:
        try:
            return await self._sandbox.upload(data, dest)
        except RunpadError as exc:
            return RemoteFailure.of(exc)

    async def download(self, path: str) -> bytes | RemoteFailure:
        try:
            return await self._sandbox.download(path)
        except RunpadError as exc:
            return RemoteFailure.of(exc)

    async def list_files(self, path: str) -> list[FileInfo] | RemoteFailure:
        try:
            return await self._sandbox.list_files(path)
        except RunpadError as exc:
            return RemoteFailure.of(exc)

    async def is_alive(self) -> bool:
        return self._sandbox.is_alive

    async def close(self) -> None:
        await self._sandbox.close()
