"""The ray backend: sandbox sessions held by Ray actors on the nodes of a cluster.

`open_sandbox("ray", backend="local")` returns a `RaySandbox`; `node_resources()` is what a
node offers the cluster (sandbox slots only where the sandbox works). Ray is the optional
`runpad[ray]` extra, imported when a session starts.
"""

from __future__ import annotations

from runpad.sandbox.ray.node import NodeOffer, node_resources
from runpad.sandbox.ray.sandbox import INNER_BACKENDS, SLOT_RESOURCE, RaySandbox, connect

__all__ = [
    "INNER_BACKENDS",
    "SLOT_RESOURCE",
    "NodeOffer",
    "RaySandbox",
    "connect",
    "node_resources",
]
