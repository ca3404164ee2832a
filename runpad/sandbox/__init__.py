"""Sandboxes that run model-written code: one async protocol, several backends."""

from runpad.sandbox.base import Sandbox
from runpad.sandbox.environment import SandboxEnvironment, find_environment, setup_environment
from runpad.sandbox.factory import BACKENDS, open_sandbox
from runpad.sandbox.limits import Limits
from runpad.sandbox.local import LocalSandbox
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
from runpad.sandbox.unsafe_local import UnsafeLocalSandbox, UnsafeSandboxWarning

__all__ = [
    "BACKENDS",
    "Artifact",
    "Execution",
    "ExecutionError",
    "FileInfo",
    "Language",
    "Limits",
    "LocalSandbox",
    "OutputCallback",
    "OutputChunk",
    "RichResult",
    "Sandbox",
    "SandboxEnvironment",
    "UnsafeLocalSandbox",
    "UnsafeSandboxWarning",
    "find_environment",
    "open_sandbox",
    "setup_environment",
]
