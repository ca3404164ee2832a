"""Choose a sandbox backend by name."""

from __future__ import annotations

from typing import Any

from runpad.errors import ConfigurationError
from runpad.sandbox.base import Sandbox

__all__ = ["BACKENDS", "open_sandbox"]

BACKENDS: tuple[str, ...] = ("local", "unsafe-local", "docker", "e2b", "fake")
"""Backend names `open_sandbox` accepts."""


def open_sandbox(backend: str = "local", **options: Any) -> Sandbox:
    """A new, not yet started session of the named backend; use it with `async with`.

    Example:
        ```python
        async with open_sandbox("local", limits=Limits(timeout=10)) as sandbox:
            print((await sandbox.run("2 + 2")).text)
        ```
    """
    if backend == "local":
        from runpad.sandbox.local import LocalSandbox

        return LocalSandbox(**options)
    if backend == "unsafe-local":
        from runpad.sandbox.unsafe_local import UnsafeLocalSandbox

        return UnsafeLocalSandbox(**options)
    if backend == "docker":  # imported here: the Docker SDK is an optional extra
        from runpad.sandbox.docker import DockerSandbox

        return DockerSandbox(**options)
    if backend == "e2b":
        from runpad.sandbox.e2b import E2BSandbox

        return E2BSandbox(**options)
    if backend == "fake":
        from runpad.sandbox.fake import FakeSandbox

        return FakeSandbox(**options)
    raise ConfigurationError(
        f"Unknown sandbox backend {backend!r}; choose one of: {', '.join(BACKENDS)}."
    )
