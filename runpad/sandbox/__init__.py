"""Sandboxes that run model-written code: one async protocol, several backends.

`DockerSandbox`, `E2BSandbox` and `RaySandbox` are importable from here too, but only load
their SDKs (the `docker`, `e2b` and `ray` extras) when first used; they are left out of
`__all__` so that `from runpad.sandbox import *` works without those extras.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runpad.lazy import lazy_names as _lazy_names

if TYPE_CHECKING:
    from runpad.sandbox.base import Sandbox
    from runpad.sandbox.environment import (
        SandboxEnvironment,
        find_environment,
        setup_environment,
    )
    from runpad.sandbox.factory import BACKENDS, open_sandbox
    from runpad.sandbox.fake import FakeSandbox
    from runpad.sandbox.limits import Limits
    from runpad.sandbox.local.sandbox import LocalSandbox
    from runpad.sandbox.pool import SandboxPool
    from runpad.sandbox.results import (
        Artifact,
        Execution,
        ExecutionError,
        FileInfo,
        Language,
        OutputCallback,
        OutputChunk,
        RichResult,
    )
    from runpad.sandbox.sync import SyncSandbox
    from runpad.sandbox.unsafe_local import UnsafeLocalSandbox, UnsafeSandboxWarning

__all__ = [
    "BACKENDS",
    "Artifact",
    "Execution",
    "ExecutionError",
    "FakeSandbox",
    "FileInfo",
    "Language",
    "Limits",
    "LocalSandbox",
    "OutputCallback",
    "OutputChunk",
    "RichResult",
    "Sandbox",
    "SandboxEnvironment",
    "SandboxPool",
    "SyncSandbox",
    "UnsafeLocalSandbox",
    "UnsafeSandboxWarning",
    "find_environment",
    "open_sandbox",
    "setup_environment",
]


# Names load on first use (PEP 562), so that a light module of this package (`results`,
# `limits`, `factory`) does not import jupyter_client and every backend with it.
_SOURCES: dict[str, str] = {
    "Sandbox": ".base",
    "SandboxEnvironment": ".environment",
    "find_environment": ".environment",
    "setup_environment": ".environment",
    "BACKENDS": ".factory",
    "open_sandbox": ".factory",
    "FakeSandbox": ".fake",
    "Limits": ".limits",
    "LocalSandbox": ".local.sandbox",
    "SandboxPool": ".pool",
    "Artifact": ".results",
    "Execution": ".results",
    "ExecutionError": ".results",
    "FileInfo": ".results",
    "Language": ".results",
    "OutputCallback": ".results",
    "OutputChunk": ".results",
    "RichResult": ".results",
    "SyncSandbox": ".sync",
    "UnsafeLocalSandbox": ".unsafe_local",
    "UnsafeSandboxWarning": ".unsafe_local",
    # Backends whose SDK is an optional extra (not in __all__).
    "DockerSandbox": ".docker.sandbox",
    "E2BSandbox": ".e2b",
    "RaySandbox": ".ray.sandbox",
}


__getattr__, __dir__ = _lazy_names(__name__, _SOURCES, __all__)
