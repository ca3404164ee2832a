"""The Python environment that code runs in inside the sandbox.

It is a virtual environment of its own, separate from the one runpad runs in, with the
kernel and the data stack. `runpad sandbox setup` creates it once; every session binds it
read-only at its original path, so nothing in it can change from inside.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from runpad.errors import SandboxUnavailable

__all__ = [
    "SANDBOX_PACKAGES",
    "SandboxEnvironment",
    "default_environment_path",
    "find_environment",
    "runpad_home",
    "setup_environment",
]

SANDBOX_PACKAGES: tuple[str, ...] = (
    "ipykernel>=6.29",
    "numpy",
    "pandas",
    "matplotlib",
    "scipy",
    "sympy",
    "scikit-learn",
    "networkx",
    "statsmodels",
    "highspy",
    "pulp",
    "seaborn",
    "openpyxl",
    "tabulate",
    "cloudpickle>=3",
)
"""What `runpad sandbox setup` installs: the kernel, the data stack, LP/MIP solvers and
cloudpickle (kernel snapshots for resume, `runpad.agents.snapshot`)."""

_MARKER = "runpad-environment.json"
_MPLCONFIG = "runpad-mplconfig"


def runpad_home() -> Path:
    """Where runpad keeps its machine-wide state: `$RUNPAD_HOME`, else ~/.cache/runpad."""
    if home := os.environ.get("RUNPAD_HOME"):
        return Path(home)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "runpad"


def default_environment_path() -> Path:
    """`$RUNPAD_SANDBOX_ENV`, else `<runpad home>/sandbox-env`."""
    if path := os.environ.get("RUNPAD_SANDBOX_ENV"):
        return Path(path)
    return runpad_home() / "sandbox-env"


@dataclass(frozen=True)
class SandboxEnvironment:
    """A ready sandbox environment on this machine."""

    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def interpreter_prefix(self) -> Path:
        """The installation of the base interpreter the venv's python links to."""
        for line in (self.path / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                return Path(value.strip()).resolve().parent
        return Path(sys.base_prefix)

    @property
    def mpl_font_cache(self) -> Path | None:
        """Matplotlib's font list, built once at setup so charts don't pay for it."""
        found = sorted((self.path / _MPLCONFIG).glob("fontlist-*.json"))
        return found[-1] if found else None

    @property
    def manifest(self) -> dict[str, object]:
        data = json.loads((self.path / _MARKER).read_text())
        return data if isinstance(data, dict) else {}


def find_environment(path: Path | None = None) -> SandboxEnvironment:
    """The sandbox environment at `path` (default: `default_environment_path()`).

    Raises:
        SandboxUnavailable: it does not exist or its setup never finished.
    """
    path = path or default_environment_path()
    if not (path / _MARKER).is_file() or not (path / "bin" / "python").exists():
        raise SandboxUnavailable(
            f"No sandbox environment at {path}. Create it with `runpad sandbox setup` "
            "(or set RUNPAD_SANDBOX_ENV to an existing one)."
        )
    return SandboxEnvironment(path)


def setup_environment(
    path: Path | None = None,
    *,
    extra_packages: Sequence[str] = (),
    python: str | None = None,
    log: Callable[[str], None] = print,
) -> SandboxEnvironment:
    """Create (or update) the sandbox environment. Safe to run again.

    Example:
        ```python
        env = setup_environment()
        print(env.python)
        ```
    """
    path = path or default_environment_path()
    base_python: str = python or getattr(sys, "_base_executable", None) or sys.executable
    packages = [*SANDBOX_PACKAGES, *extra_packages]
    started = time.monotonic()
    if not (path / "bin" / "python").exists():
        log(f"Creating the sandbox environment in {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        _check_call([base_python, "-m", "venv", str(path)], "create the virtual environment")
    (path / _MARKER).unlink(missing_ok=True)  # not ready until everything below succeeds
    log(f"Installing {len(packages)} packages into the sandbox environment")
    _check_call(
        [
            str(path / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            *packages,
        ],
        "install the sandbox packages",
    )
    log("Building matplotlib's font cache")
    mplconfig = path / _MPLCONFIG
    mplconfig.mkdir(exist_ok=True)
    _check_call(
        [str(path / "bin" / "python"), "-c", "import matplotlib.font_manager"],
        "build matplotlib's font cache",
        env={**os.environ, "MPLCONFIGDIR": str(mplconfig)},
    )
    path.chmod(0o755)  # the sandbox user must be able to read it
    manifest = {
        "packages": packages,
        "python": subprocess.run(
            [str(path / "bin" / "python"), "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (path / _MARKER).write_text(json.dumps(manifest, indent=2))
    log(f"Sandbox environment ready in {time.monotonic() - started:.0f} s: {path}")
    return SandboxEnvironment(path)


def _check_call(argv: list[str], what: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SandboxUnavailable(
            f"Could not {what} (exit {result.returncode}): {result.stderr.strip()[-2000:]}\n"
            "Check that this machine reaches the package index, then run "
            "`runpad sandbox setup` again."
        )
