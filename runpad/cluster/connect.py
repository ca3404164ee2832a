"""Joining a Ray cluster as a driver, and the checks a batch makes before it submits work.

`--cluster auto` joins the cluster this machine belongs to (`ray start` ran here, or
`RAY_ADDRESS` is set); `--cluster HOST:PORT` joins the one whose head listens there (the
GCS port, 6379 by default); `--cluster local` starts a one-node Ray inside this process
for the batch. An address that does not answer is refused within seconds, before Ray's own
much longer connection retries.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from runpad.errors import ConfigurationError, MissingDependencyError
from runpad.sandbox.ray.sandbox import SLOT_RESOURCE

__all__ = [
    "SLOT_RESOURCE",
    "ClusterInfo",
    "ClusterUnreachable",
    "is_postgres",
    "joined_cluster",
    "refuse_sqlite",
]

logger = logging.getLogger(__name__)

# SLOT_RESOURCE: the custom node resource a node offers per sandbox session it can hold (the
# ray sandbox backend's; `runpad.sandbox.ray.node_resources()` says how many). A batch task
# takes one, so Ray never places more runs on a node than it has sandbox slots.
_CONNECT_SECONDS = 3.0


class ClusterUnreachable(ConfigurationError):
    """The cluster address did not answer (the CLI exits 2 with this message)."""


@dataclass(frozen=True)
class ClusterInfo:
    """The cluster a driver joined, as it stood when the batch started.

    Attributes:
        address: what the driver joined ("local" when it started its own one-node Ray).
        nodes: alive node ids.
        slots: the `SLOT_RESOURCE` units across the alive nodes (0: no node offers them,
            and tasks are placed by CPU instead).
        cpus: CPUs across the alive nodes.
    """

    address: str
    nodes: tuple[str, ...]
    slots: float
    cpus: float


def _require_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("ray", "pip install 'runpad[ray]'") from exc


@contextlib.contextmanager
def joined_cluster(address: str) -> Iterator[ClusterInfo]:
    """Join the cluster at `address` ("auto", "local", "HOST:PORT" or "ray://HOST:PORT")
    for the duration of the block, and disconnect afterwards.

    Raises:
        ClusterUnreachable: nothing answers at the address, or "auto" finds no cluster.
        MissingDependencyError: `ray` is not installed.
    """
    _require_ray()
    import ray

    if address not in ("auto", "local"):
        _probe(address)
    if ray.is_initialized():  # a caller (a notebook, a test) joined already: use that one
        current = ray.get_runtime_context().gcs_address
        if address not in ("auto", "local") and address.removeprefix("ray://") != current:
            raise ConfigurationError(
                f"This process is already connected to the Ray cluster at {current}, not "
                f"{address}: call ray.shutdown() first, or ask for --cluster auto."
            )
        yield _describe(current)
        return
    options: dict[str, object] = {
        "log_to_driver": False,  # the workers' logs stay in Ray's log files, not our stdout
        "logging_level": logging.WARNING,
        "configure_logging": False,
    }
    try:
        if address == "local":
            ray.init(**options)  # type: ignore[arg-type]
        else:
            ray.init(address=address, **options)  # type: ignore[arg-type]
    except ConnectionError as exc:
        where = "on this machine (RAY_ADDRESS is not set)" if address == "auto" else address
        raise ClusterUnreachable(
            f"No Ray cluster answers {where}: {exc}. Start one with `ray start --head`, give "
            "its address (--cluster HOST:6379), or use --cluster local for a one-node Ray."
        ) from exc
    try:
        yield _describe(address)
    finally:
        ray.shutdown()


def _probe(address: str) -> None:
    """Fail fast when nothing listens at HOST:PORT (Ray itself retries for a minute)."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterUnreachable(
            f"Cluster address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379), 'auto' or 'local'."
        )
    try:
        with socket.create_connection((host, int(port)), timeout=_CONNECT_SECONDS):
            pass
    except OSError as exc:
        raise ClusterUnreachable(
            f"The Ray cluster at {address} does not answer ({exc}). Check the address and "
            "that its head node runs (`ray status --address ...`)."
        ) from exc


def _describe(address: str) -> ClusterInfo:
    import ray

    alive = [node for node in ray.nodes() if node.get("Alive")]
    return ClusterInfo(
        address=address,
        nodes=tuple(str(node["NodeID"]) for node in alive),
        slots=sum(float(node["Resources"].get(SLOT_RESOURCE, 0.0)) for node in alive),
        cpus=sum(float(node["Resources"].get("CPU", 0.0)) for node in alive),
    )


def refuse_sqlite(cluster: ClusterInfo, checkpoints: str | None) -> None:
    """A SQLite store is one node's file: on a cluster of several nodes, refuse it.

    Raises:
        ConfigurationError: the cluster has more than one node and `checkpoints` is not a
            PostgreSQL URL.
    """
    if is_postgres(checkpoints) or len(cluster.nodes) <= 1:
        return
    store = checkpoints or "the default SQLite file"
    raise ConfigurationError(
        f"The cluster has {len(cluster.nodes)} nodes, but the checkpoints are {store}: a "
        "SQLite file lives on one node, and a task retried on another node could not resume "
        "from it. Use PostgreSQL: --checkpoints postgresql://USER@HOST/DB (see "
        "docs/deployment.md)."
    )


def is_postgres(checkpoints: str | None) -> bool:
    """Whether a checkpoint store spec is a PostgreSQL URL."""
    return checkpoints is not None and checkpoints.startswith(("postgres://", "postgresql://"))
