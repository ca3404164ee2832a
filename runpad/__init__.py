"""runpad: let language models think in code.

A LangGraph state machine plans, writes code, runs it in a hardened sandbox, reviews the
result and repairs or answers. This package's public surface is listed in `__all__`.

The names are loaded on first use (PEP 562): `import runpad` alone imports neither LangGraph
nor LangChain nor a sandbox backend, so that commands such as `runpad --version` and
`runpad threads` start at once. `tests/unit/test_lazy_imports.py` keeps it so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runpad.lazy import lazy_names as _lazy_names

if TYPE_CHECKING:
    from runpad.cluster import batch
    from runpad.context import Context, RunLimits
    from runpad.errors import (
        ConfigurationError,
        MissingDependencyError,
        RunNotFound,
        RunpadError,
        SandboxError,
        SandboxUnavailable,
    )
    from runpad.graphs import build_analysis_graph
    from runpad.runner import aresume, arun, resume, run
    from runpad.runs import RunResult
    from runpad.sandbox import Execution, Limits, Sandbox, open_sandbox

__all__ = [
    "ConfigurationError",
    "Context",
    "Execution",
    "Limits",
    "MissingDependencyError",
    "RunLimits",
    "RunNotFound",
    "RunResult",
    "RunpadError",
    "Sandbox",
    "SandboxError",
    "SandboxUnavailable",
    "aresume",
    "arun",
    "batch",
    "build_analysis_graph",
    "open_sandbox",
    "resume",
    "run",
]

__version__ = "0.1.0"

# Where each public name is defined: the module is imported the first time the name is used.
_SOURCES: dict[str, str] = {
    "ConfigurationError": "runpad.errors",
    "MissingDependencyError": "runpad.errors",
    "RunNotFound": "runpad.errors",
    "RunpadError": "runpad.errors",
    "SandboxError": "runpad.errors",
    "SandboxUnavailable": "runpad.errors",
    "build_analysis_graph": "runpad.graphs",
    "aresume": "runpad.runner",
    "arun": "runpad.runner",
    "resume": "runpad.runner",
    "run": "runpad.runner",
    "RunResult": "runpad.runs",
    "Execution": "runpad.sandbox",
    "Limits": "runpad.sandbox",
    "Sandbox": "runpad.sandbox",
    "open_sandbox": "runpad.sandbox",
    "Context": "runpad.context",
    "RunLimits": "runpad.context",
    "batch": "runpad.cluster",
}


__getattr__, __dir__ = _lazy_names(__name__, _SOURCES, __all__)
