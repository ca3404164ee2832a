"""The local backend: an ipykernel in a bubblewrap sandbox on this machine.

- `sandbox`: `LocalSandbox` (namespaces, mounts, the session's life);
- `seccomp`: the system-call rules as data, compiled for bubblewrap (the docker backend
  writes the same rules as its profile);
- `cgroups`: per-session control groups (memory, processes, CPU);
- `check`: `runpad sandbox check`, which probes what isolation this machine gives.

Nothing is imported here, so that naming a module of this package loads only that module.
"""

from __future__ import annotations

__all__: list[str] = []
