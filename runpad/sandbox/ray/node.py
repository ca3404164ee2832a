"""What a Ray node offers the cluster: sandbox slots, only where a sandbox works there.

Start each node with the resources this prints, so that the scheduler never places a
session on a node that cannot hold one, nor more sessions than the node can hold:

    ray start --address=HEAD:6379 --resources="$(runpad sandbox node-resources)"
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from runpad.errors import RunpadError
from runpad.sandbox.factory import check_can_start, open_sandbox
from runpad.sandbox.limits import Limits, MiB
from runpad.sandbox.ray.sandbox import INNER_BACKENDS, SLOT_RESOURCE

__all__ = ["NodeOffer", "node_resources"]


@dataclass(frozen=True)
class NodeOffer:
    """The resources a node offers (`ray start --resources`), and why none when it offers none."""

    resources: dict[str, float]
    problem: str | None = None


def default_slots(limits: Limits) -> int:
    """Sessions this machine holds: its memory over one session's memory limit, at least one.

    An idle session takes far less (about 66 MiB with pandas imported), but every session
    may use its whole limit at once, and the node must not run out of memory when they do.
    """
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(1, memory // (limits.memory_mb * MiB))


def node_resources(
    backend: str = "local", *, slots: int | None = None, limits: Limits | None = None
) -> NodeOffer:
    """Start one session of `backend` here and run a cell in it; offer `slots` sandbox slots
    (default: `default_slots`) if that worked, and none, with the reason, if it did not."""
    limits = limits or Limits()
    if backend not in INNER_BACKENDS:
        return NodeOffer({}, f"a Ray node holds {' or '.join(INNER_BACKENDS)} sessions only")
    try:
        check_can_start(backend)
        problem = asyncio.run(_try_session(backend, limits))
    except RunpadError as exc:
        problem = str(exc)
    if problem is not None:
        return NodeOffer({}, problem)
    return NodeOffer({SLOT_RESOURCE: float(slots if slots is not None else default_slots(limits))})


async def _try_session(backend: str, limits: Limits) -> str | None:
    async with open_sandbox(backend, limits=limits) as sandbox:
        execution = await sandbox.run("6 * 7")
    if execution.text != "42":
        return f"a test cell in the {backend} sandbox returned {execution.text!r}, not '42'"
    return None
