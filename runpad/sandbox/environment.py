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
from runpad.home import runpad_home

__all__ = [
    "SANDBOX_NPM_PACKAGES",
    "SANDBOX_PACKAGES",
    "SandboxEnvironment",
    "default_environment_path",
    "find_environment",
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
    "deno>=2.9,<3",
)
"""What `runpad sandbox setup` installs: the kernel, the data stack, LP/MIP solvers,
cloudpickle (kernel snapshots for resume, `runpad.agents.snapshot`) and Deno (the binary of
JavaScript and TypeScript cells, `runpad.sandbox.kernel.deno`)."""

SANDBOX_NPM_PACKAGES: tuple[str, ...] = (
    "lodash@4",
    "d3-array@3",
    "date-fns@4",
    "papaparse@5",
    "simple-statistics@7",
    "@types/lodash@4",
    "@types/papaparse@5",
)
"""npm packages cached at setup for JavaScript and TypeScript cells, which import them as
`npm:lodash` with no network: collections, statistics, dates and CSV, what analysts reach
for first (and the type declarations of the two that ship none)."""

_MARKER = "runpad-environment.json"
_MPLCONFIG = "runpad-mplconfig"
_DENO_DIR = "runpad-deno"


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
    def deno(self) -> Path | None:
        """The Deno binary (PyPI's `deno` package puts it in bin/), or None if missing."""
        deno = self.path / "bin" / "deno"
        return deno if deno.is_file() else None

    @property
    def deno_dir(self) -> Path:
        """Deno's cache (`DENO_DIR`) with the npm packages of `SANDBOX_NPM_PACKAGES`."""
        return self.path / _DENO_DIR

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
    log(f"Caching {len(SANDBOX_NPM_PACKAGES)} npm packages for JavaScript cells")
    _cache_npm_packages(path)
    path.chmod(0o755)  # the sandbox user must be able to read it
    manifest = {
        "packages": packages,
        "npm_packages": list(SANDBOX_NPM_PACKAGES),
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


def _cache_npm_packages(path: Path) -> None:
    """Download the npm packages into the environment's DENO_DIR (read-only in sessions)."""
    deno_dir = path / _DENO_DIR
    deno_dir.mkdir(exist_ok=True)
    imports = path / _DENO_DIR / "runpad-npm-packages.ts"
    imports.write_text("".join(f'import "npm:{spec}";\n' for spec in SANDBOX_NPM_PACKAGES))
    _check_call(
        [str(path / "bin" / "deno"), "cache", str(imports)],
        "cache the npm packages of JavaScript cells",
        env={
            **os.environ,
            "DENO_DIR": str(deno_dir),
            "DENO_NO_UPDATE_CHECK": "1",
            "DENO_NO_PACKAGE_JSON": "1",
            "NO_COLOR": "1",
        },
        cwd=deno_dir,
    )
    for directory, _, files in os.walk(deno_dir):  # readable by the sandbox's uid
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o644)


def _check_call(
    argv: list[str], what: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd)
    if result.returncode != 0:
        raise SandboxUnavailable(
            f"Could not {what} (exit {result.returncode}): {result.stderr.strip()[-2000:]}\n"
            "Check that this machine reaches the package index, then run "
            "`runpad sandbox setup` again."
        )
