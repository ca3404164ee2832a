"""Choose a sandbox backend by name."""

from __future__ import annotations

import importlib
from typing import Any

from runpad.errors import ConfigurationError
from runpad.sandbox.base import Sandbox

__all__ = ["BACKENDS", "check_backend", "check_can_start", "open_sandbox", "sandbox_class"]

BACKENDS: tuple[str, ...] = ("local", "unsafe-local", "docker", "e2b", "ray")
"""The backends a user may choose (the CLI, Studio's form and the docs list these)."""

_TEST_BACKENDS: tuple[str, ...] = ("fake",)
# "fake" runs model code in the host process with no isolation at all: runpad's own tests
# use it to script what cells return. `open_sandbox` and `Context` accept it; nothing offers it.


def check_backend(backend: str) -> str:
    """`backend`, when `open_sandbox` knows it; else a ConfigurationError listing the choices."""
    if backend not in BACKENDS and backend not in _TEST_BACKENDS:
        raise ConfigurationError(
            f"Unknown sandbox backend {backend!r}; choose one of: {', '.join(BACKENDS)}."
        )
    return backend


_CLASSES: dict[str, str] = {
    "local": "runpad.sandbox.local.sandbox:LocalSandbox",
    "unsafe-local": "runpad.sandbox.unsafe_local:UnsafeLocalSandbox",
    "docker": "runpad.sandbox.docker.sandbox:DockerSandbox",
    "e2b": "runpad.sandbox.e2b:E2BSandbox",
    "ray": "runpad.sandbox.ray.sandbox:RaySandbox",
    "fake": "runpad.sandbox.fake:FakeSandbox",
}
# Imported on first use: each backend loads its own SDK (Docker, E2B and Ray are extras).


def sandbox_class(backend: str) -> type[Sandbox]:
    """The class of the named backend, imported now; what it declares (`languages`,
    `backend`) can be read without making a session."""
    module, name = _CLASSES[check_backend(backend)].split(":")
    cls: type[Sandbox] = getattr(importlib.import_module(module), name)
    return cls


def open_sandbox(backend: str = "local", /, **options: Any) -> Sandbox:
    """A new, not yet started session of the named backend; use it with `async with`.

    `backend` is positional, so that `open_sandbox("ray", backend="docker")` can name the
    backend a Ray node runs (see `RaySandbox`).

    Example:
        ```python
        async with open_sandbox("local", limits=Limits(timeout=10)) as sandbox:
            print((await sandbox.run("2 + 2")).text)
        ```
    """
    return sandbox_class(backend)(**options)


def check_can_start(backend: str) -> None:
    """Raise the RunpadError that says what to install or change when `backend` surely
    cannot start here (no bubblewrap, no sandbox environment, a missing SDK); starts nothing.

    For front ends that check before a run: a run that would fail at its first cell fails
    now instead, before a model is asked anything.
    """
    check_backend(backend)
    if backend in ("local", "unsafe-local"):
        from runpad.sandbox.environment import find_environment

        if backend == "local":
            from runpad.sandbox.local.sandbox import find_bwrap

            find_bwrap()
        find_environment()
    else:
        open_sandbox(backend)  # not started: only checks that the backend loads
