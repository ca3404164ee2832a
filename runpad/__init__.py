"""runpad: let language models think in code.

A LangGraph state machine plans, writes code, runs it in a hardened sandbox, reviews the
result and repairs or answers. This package's public surface is listed in `__all__`.
"""

from runpad.context import Context, RunLimits
from runpad.errors import (
    ConfigurationError,
    MissingDependencyError,
    RunpadError,
    SandboxError,
    SandboxUnavailable,
)
from runpad.graphs import build_analysis_graph
from runpad.runner import RunResult, aresume, arun, resume, run
from runpad.sandbox import Execution, Limits, Sandbox, open_sandbox

__all__ = [
    "ConfigurationError",
    "Context",
    "Execution",
    "Limits",
    "MissingDependencyError",
    "RunLimits",
    "RunResult",
    "RunpadError",
    "Sandbox",
    "SandboxError",
    "SandboxUnavailable",
    "aresume",
    "arun",
    "build_analysis_graph",
    "open_sandbox",
    "resume",
    "run",
]

__version__ = "0.1.0"
