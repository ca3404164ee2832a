"""The host side of the ray backend: a `Sandbox` whose session lives in a Ray actor.

`open_sandbox("ray", backend="local")` places an actor (`runpad.sandbox.ray.actor`) on a
node of the cluster that offers a free sandbox slot (the custom resource `runpad_sandbox`,
one per session), and the actor starts a session of the inner backend on its node. Every
method here is one call to that actor; a cell's output comes back through a Ray streaming
generator as the kernel produces it, so `on_output` sees it live.

When the node dies (or the actor is killed) the session fails with `SandboxLost` and stays
failed: Ray does not restart the actor, because a restarted actor would hold an empty kernel
that looked like the old one. Whoever holds the session opens a new one, on another node;
the graph does that itself and rebuilds the kernel from the checkpoint.

Ray is not a security boundary: anyone who can reach the cluster can run code on its nodes.
The walls around the model's code are the inner backend's (docs/security.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import socket
from collections.abc import Awaitable
from typing import Any, ClassVar, NoReturn, TypeVar, get_args

import runpad.errors
from runpad.errors import (
    ConfigurationError,
    MissingDependencyError,
    SandboxError,
    SandboxLost,
    SandboxStartError,
    SandboxUnavailable,
)
from runpad.sandbox.base import Sandbox, emit
from runpad.sandbox.limits import Limits
from runpad.sandbox.ray.actor import RemoteFailure, SandboxActor, SessionPlace
from runpad.sandbox.results import Execution, FileInfo, Language, OutputCallback

__all__ = ["INNER_BACKENDS", "SLOT_RESOURCE", "RaySandbox", "connect"]

logger = logging.getLogger(__name__)

SLOT_RESOURCE = "runpad_sandbox"
"""The custom node resource that counts sandbox slots; each session takes one."""

INNER_BACKENDS: tuple[str, ...] = ("local", "docker")
"""The backends a Ray node may hold sessions of: those that isolate the code they run."""

_T = TypeVar("_T")


def connect(address: str | None = None) -> str:
    """Connect this process to the Ray cluster at `address` (or `RAY_ADDRESS`) once; returns
    the address of the cluster it is connected to.

    A process that already called `ray.init` keeps its connection. An address that does not
    answer is a `SandboxUnavailable` at once (Ray itself would retry for minutes).
    """
    _require_ray()
    import ray

    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None and address != "auto":
        _check_reachable(address)
    if ray.is_initialized():
        connected = str(ray.get_runtime_context().gcs_address)
        if address not in (None, "auto") and _host_port(address) != _host_port(connected):
            raise ConfigurationError(
                f"This process is already connected to the Ray cluster at {connected}, "
                f"not {address}; one process talks to one cluster (call ray.shutdown() first)."
            )
        return connected
    if address is None:
        raise ConfigurationError(
            "The ray sandbox backend needs a Ray cluster: set RAY_ADDRESS (or the `address` "
            "option, `Context(ray_address=...)`) to its head node, e.g. 10.0.0.5:6379, or "
            '"auto" on a machine where `ray start` ran.'
        )
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, RuntimeError) as exc:
        raise SandboxUnavailable(
            f"Could not join the Ray cluster at {address}: {exc}. "
            "Check RAY_ADDRESS and that `ray status` works on this machine."
        ) from exc
    return str(ray.get_runtime_context().gcs_address)


def _require_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        raise MissingDependencyError("Ray", "pip install 'runpad[ray]'")


def _host_port(address: str) -> tuple[str, int]:
    rest = address.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(
            f"Ray address {address!r} is not HOST:PORT (or ray://HOST:PORT, or auto)."
        )
    host = host.strip("[]")
    return ("127.0.0.1" if host == "localhost" else host), int(port)


def _check_reachable(address: str) -> None:
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=5):
            pass
    except OSError as exc:
        raise SandboxUnavailable(
            f"No Ray cluster answers at {address} ({exc.strerror or exc}). Start one with "
            "`ray start --head` (and nodes with `runpad sandbox node-resources`), or set "
            "RAY_ADDRESS to its head node's HOST:PORT."
        ) from exc


class RaySandbox(Sandbox):
    """A session of an inner backend, held by a Ray actor on some node of a cluster.

    Args:
        limits: the session's limits, enforced by the inner backend on its node.
        backend: the inner backend on the node: "local" (bubblewrap) or "docker".
        address: the cluster's head (HOST:PORT, ray://HOST:PORT or "auto"); defaults to
            `RAY_ADDRESS`, or the cluster this process already joined with `ray.init`.
        placement_timeout: seconds to wait for a free sandbox slot before giving up.
        resources: further Ray resources the actor needs (to pin sessions to some nodes).
        runtime_env: the actor's Ray runtime environment (e.g. `{"env_vars": {"DOCKER_HOST":
            ...}}` for a docker engine that is not the node's default).
        options: passed to the inner backend on the node (e.g. docker's `image`).

    Example:
        ```python
        async with open_sandbox("ray", backend="local", address="10.0.0.5:6379") as sandbox:
            print((await sandbox.run("import socket; socket.gethostname()")).text)
        ```
    """

    backend: ClassVar[str] = "ray"
    # Every language passes through to the node: the inner session answers a language it
    # does not run with its own error value, which names it (docker has no Deno kernel).
    languages: ClassVar[tuple[Language, ...]] = get_args(Language)

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        backend: str = "local",
        address: str | None = None,
        placement_timeout: float = 120.0,
        resources: dict[str, float] | None = None,
        runtime_env: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(limits)
        _require_ray()  # here, not at start: `runpad run` checks backends before a run
        if backend not in INNER_BACKENDS:
            raise ConfigurationError(
                f"A Ray node cannot hold {backend!r} sessions; choose one of: "
                f"{', '.join(INNER_BACKENDS)}."
            )
        self.inner_backend = backend
        self.address = address
        self.placement_timeout = placement_timeout
        self._resources = {SLOT_RESOURCE: 1.0, **(resources or {})}
        self._runtime_env = runtime_env
        self._options = options
        self._actor: Any = None
        self._lost: str | None = None
        self.place: SessionPlace | None = None
        """Where the session runs (node id, node address, actor pid), once started."""

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        # A lost session is not running: a manager that asks opens a new one in its place.
        return super().is_running and self._lost is None

    def _is_alive(self) -> bool:
        return self._lost is None

    def _check_running(self) -> None:
        super()._check_running()
        if self._lost is not None:
            raise SandboxLost(self._lost)

    async def _start(self) -> None:
        import ray

        self.address = await asyncio.to_thread(connect, self.address)
        total = ray.cluster_resources().get(SLOT_RESOURCE, 0)
        if total < 1:
            raise SandboxUnavailable(
                f"No node of the Ray cluster at {self.address} offers sandbox slots (the "
                f"{SLOT_RESOURCE!r} resource): start each node with "
                '`ray start --address=HEAD --resources="$(runpad sandbox node-resources)"`, '
                "which offers slots only where the sandbox works."
            )
        actor_class = ray.remote(SandboxActor)
        self._actor = actor_class.options(
            num_cpus=0,
            resources=self._resources,
            max_restarts=0,
            max_task_retries=0,
            scheduling_strategy="SPREAD",
            runtime_env=self._runtime_env,
        ).remote(self.inner_backend, self.limits, self._options)
        try:
            # The first call waits for a slot: Ray queues an actor until a node has one.
            placed = await asyncio.wait_for(
                self._call(self._actor.start.remote(), "start"), self.placement_timeout
            )
        except TimeoutError:
            free = ray.available_resources().get(SLOT_RESOURCE, 0)
            self._kill_actor()
            raise SandboxStartError(
                f"No sandbox slot came free in the Ray cluster within "
                f"{self.placement_timeout:g} s ({free:g} of {total:g} free, other resources "
                f"asked: {self._resources}): close idle sessions, add nodes, or raise "
                "placement_timeout."
            ) from None
        except BaseException:
            self._kill_actor()
            raise
        self.place = placed
        logger.debug("ray sandbox session on node %s (pid %s)", placed.node_id, placed.pid)

    async def _close(self) -> None:
        if self._actor is None:
            return
        if self._lost is None:
            with contextlib.suppress(SandboxError):
                await asyncio.wait_for(self._call(self._actor.close.remote(), "close"), 30)
        self._kill_actor()

    def _kill_actor(self) -> None:
        import ray

        if self._actor is not None:
            with contextlib.suppress(Exception):  # already gone with its node
                ray.kill(self._actor, no_restart=True)

    # -- calls ------------------------------------------------------------------------------

    async def _call(self, ref: Awaitable[_T | RemoteFailure], what: str) -> _T:
        """Await one actor call, turning Ray's failures into runpad's."""
        try:
            result = await ref
        except Exception as exc:
            self._raise_ray_failure(exc, what)
        if isinstance(result, RemoteFailure):
            _raise_remote(result)
        return result

    def _raise_ray_failure(self, exc: Exception, what: str) -> NoReturn:
        from ray import exceptions as ray_errors

        lost = (
            ray_errors.RayActorError,  # ActorDiedError, ActorUnavailableError
            ray_errors.NodeDiedError,
            ray_errors.ObjectLostError,
            ray_errors.OwnerDiedError,
        )
        if isinstance(exc, lost):
            where = (
                f"Ray node {self.place.node_ip} ({self.place.node_id[:12]})"
                if self.place
                else "its Ray node"
            )
            text = str(exc).strip()
            first_line = text.splitlines()[0].rstrip(".") if text else type(exc).__name__
            self._lost = (
                f"The sandbox session on {where} was lost during {what}: {first_line}. "
                "Its kernel and work dir are gone; open a new session (the graph does, and "
                "replays the earlier cells)."
            )
            self._kill_actor()
            raise SandboxLost(self._lost) from exc
        if isinstance(exc, ray_errors.RayError):
            raise SandboxError(f"The Ray call {what} failed: {exc}") from exc
        raise exc

    # -- the protocol -----------------------------------------------------------------------

    async def _run(
        self, code: str, *, language: Language, timeout: float, on_output: OutputCallback | None
    ) -> Execution:
        stream = self._actor.run.options(num_returns="streaming").remote(code, language, timeout)
        execution: Execution | None = None
        try:
            async for ref in stream:
                item = await self._call(ref, "a cell")
                if isinstance(item, Execution):
                    execution = item
                else:
                    await emit(on_output, item)
        except asyncio.CancelledError:
            # The caller gave up on this cell: stop it on the node too, or it runs on.
            with contextlib.suppress(Exception):
                self._actor.interrupt.remote()
            raise
        except SandboxError:
            raise
        except Exception as exc:  # the stream itself failed (the actor died between items)
            self._raise_ray_failure(exc, "a cell")
        if execution is None:
            raise SandboxError("The Ray actor's cell stream ended without a result.")
        return execution

    async def _interrupt(self) -> None:
        await self._call(self._actor.interrupt.remote(), "interrupt")

    async def _restart(self) -> None:
        await self._call(self._actor.restart.remote(), "restart")

    async def _upload(self, data: bytes, dest: str) -> FileInfo:
        return await self._call(self._actor.upload.remote(data, dest), "upload")

    async def _download(self, path: str) -> bytes:
        return await self._call(self._actor.download.remote(path), "download")

    async def _list_files(self, path: str) -> list[FileInfo]:
        return await self._call(self._actor.list_files.remote(path), "list files")


def _raise_remote(failure: RemoteFailure) -> NoReturn:
    """Raise on the host the runpad error the node raised (same class where it can be made
    from its message alone)."""
    cls = getattr(runpad.errors, failure.error, None)
    if isinstance(cls, type) and issubclass(cls, runpad.errors.RunpadError):
        own_init = any("__init__" in vars(k) for k in cls.__mro__[: cls.__mro__.index(Exception)])
        if not own_init:  # made from its message alone
            raise cls(failure.message)
    raise SandboxUnavailable(f"On the Ray node: {failure.message}")
