"""Every exception runpad raises, grouped by who has to act.

```
RunpadError
├── ConfigurationError          the developer: a setting, an argument or an install is wrong
│   ├── MissingDependencyError  an optional extra or a system package is not installed
│   ├── RunNotFound             no run with this thread id in the checkpoint store
│   └── ModelUnavailable        the local model's file is missing, corrupt, unreadable or too big
└── SandboxError                the sandbox itself failed (never the user's code)
    ├── SandboxUnavailable      this backend cannot run here (bubblewrap missing, no environment)
    │   └── DenoUnavailable     no Deno for JavaScript/TypeScript cells (a cell gets it as a value)
    ├── SandboxStartError       the sandbox was set up but its kernel did not come up
    ├── SandboxTimeout          a request to the sandbox (not a cell) took too long
    ├── SandboxClosed           the session was used after close()
    ├── SandboxFileError        a file operation named a bad path or a missing file
    └── SandboxLost             the session's machine died (a Ray node): its kernel is gone
```

An error in the code a model wrote is *not* an exception: it comes back as a value in
`Execution.error`, so the model can read it and repair its code. A cell that runs past its
time limit is also a value (`Execution.timed_out`). Only failures of runpad's own machinery
raise, and every message says what to change.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DenoUnavailable",
    "MissingDependencyError",
    "ModelUnavailable",
    "RunNotFound",
    "RunpadError",
    "SandboxClosed",
    "SandboxError",
    "SandboxFileError",
    "SandboxLost",
    "SandboxStartError",
    "SandboxTimeout",
    "SandboxUnavailable",
]


class RunpadError(Exception):
    """Base class of every exception runpad raises."""


class ConfigurationError(RunpadError):
    """A setting, argument or installation is wrong; the message says which and how to fix it."""


class MissingDependencyError(ConfigurationError):
    """An optional dependency is missing.

    Args:
        package: what is missing (a Python distribution or a system program).
        install_hint: the command that installs it.
    """

    def __init__(self, package: str, install_hint: str) -> None:
        super().__init__(f"{package} is not installed. Install it with: {install_hint}")
        self.package = package
        self.install_hint = install_hint


class RunNotFound(ConfigurationError):
    """The checkpoint store has no run with this thread id.

    Args:
        thread_id: the id that was looked up.
    """

    def __init__(self, thread_id: str) -> None:
        super().__init__(
            f"No run with thread id {thread_id!r} in this checkpoint store; "
            "`runpad threads` lists the runs."
        )
        self.thread_id = thread_id


class ModelUnavailable(ConfigurationError):
    """The embedded model cannot be loaded: a weight package is missing or of another version,
    the assembled file fails its hash, the GGUF file is unreadable, or it needs more memory
    than is free. Nothing was loaded. The CLI exits 3 with this one-line message.

    Args:
        problem: what is wrong, in one sentence.
        fix: the command (or action) that fixes it.
    """

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem} Fix: {fix}")
        self.problem = problem
        self.fix = fix


class SandboxError(RunpadError):
    """The sandbox itself failed. Errors in the executed code are values, not this."""


class SandboxUnavailable(SandboxError):
    """The chosen backend cannot run on this machine (a missing program, environment or right)."""


class DenoUnavailable(SandboxUnavailable):
    """The sandbox has no Deno, so JavaScript and TypeScript cells cannot run there.

    Starting the Deno kernel raises it; a cell gets it as its error value (`DenoUnavailable`).
    """


class SandboxStartError(SandboxError):
    """The sandbox process started but its kernel never answered."""


class SandboxTimeout(SandboxError):
    """A request to the sandbox (start, upload, shutdown) took longer than allowed."""


class SandboxClosed(SandboxError):
    """The session was used after it was closed; start a new one."""


class SandboxFileError(SandboxError):
    """A file operation named a path outside the work dir, or a file that does not exist."""


class SandboxLost(SandboxError):
    """The session's machine went away while it was in use: the Ray node that held it died,
    or the actor that held it was killed. The kernel's variables and work dir are gone; a new
    session starts elsewhere, and the graph rebuilds it from the checkpointed cells."""
