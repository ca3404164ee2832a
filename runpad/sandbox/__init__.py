"""Sandboxes that run model-written code: one async protocol, several backends.

`DockerSandbox` and `E2BSandbox` are importable from here too, but only load their SDKs (the
`docker` and `e2b` extras) when first used; they are left out of `__all__` so that
`from runpad.sandbox import *` works without those extras.
"""

from typing import Any

from runpad.sandbox.base import Sandbox
from runpad.sandbox.environment import SandboxEnvironment, find_environment, setup_environment
from runpad.sandbox.factory import BACKENDS, open_sandbox
from runpad.sandbox.fake import FakeSandbox
from runpad.sandbox.limits import Limits
from runpad.sandbox.local import LocalSandbox
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


def __getattr__(name: str) -> Any:
    # Backends whose SDK is an optional extra load it on first use, not on `import runpad`.
    if name == "DockerSandbox":
        from runpad.sandbox.docker import DockerSandbox

        return DockerSandbox
    if name == "E2BSandbox":
        from runpad.sandbox.e2b import E2BSandbox

        return E2BSandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
