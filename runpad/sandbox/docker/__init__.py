"""The docker backend: an ipykernel in a container (the `docker` extra).

- `sandbox`: `DockerSandbox` (the container, its mounts and the session's life);
- `image`: the sandbox image built from the local sandbox environment.

Nothing is imported here, so that naming a module of this package loads only that module
(the `docker` SDK is an optional extra).
"""

from __future__ import annotations

__all__: list[str] = []
