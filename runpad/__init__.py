"""runpad: let language models think in code.

A LangGraph state machine plans, writes code, runs it in a hardened sandbox, reviews the
result and repairs or answers. This package's public surface is listed in `__all__`.
"""

from runpad.errors import (
    ConfigurationError,
    MissingDependencyError,
    RunpadError,
    SandboxError,
    SandboxUnavailable,
)
from runpad.sandbox import Execution, Limits, Sandbox, open_sandbox

__all__ = [
    "ConfigurationError",
    "Execution",
    "Limits",
    "MissingDependencyError",
    "RunpadError",
    "Sandbox",
    "SandboxError",
    "SandboxUnavailable",
    "open_sandbox",
]

__version__ = "0.1.0"
