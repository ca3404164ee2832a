"""The Jupyter kernel protocol that the kernel backends (local, docker, unsafe-local, e2b's
mapping) share.

- `driver`: `KernelSandbox`, the base of the backends that start an ipykernel and speak the
  Jupyter protocol to it, and the mapping of kernel messages to `Execution`;
- `startup`, `snapshot`: files that run inside the sandbox's kernel (its startup script and
  the namespace snapshot), shipped as package data and never imported by the host;
- `jupyter`: a jupyter_client kernel provisioner that runs a kernel in a sandbox session.

Nothing is imported here, so that naming a module of this package loads only that module.
"""

from __future__ import annotations

__all__: list[str] = []
