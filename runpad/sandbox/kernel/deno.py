"""JavaScript and TypeScript cells: Deno's own Jupyter kernel, beside the Python kernel.

A session starts a Deno kernel (`deno jupyter --kernel`) the first time it gets a
JavaScript or TypeScript cell, in the same work dir and behind the same walls as its Python
kernel, and drives it with the same `KernelDriver`. What is Deno's own lives here:

- the binary comes from the PyPI package `deno`, installed into the sandbox environment by
  `runpad sandbox setup` (`find_deno`), with a few npm packages cached for offline use
  (`SANDBOX_NPM_PACKAGES`, in the environment's read-only `DENO_DIR`);
- Deno's kernel listens on TCP only, so inside the sandbox `deno_relay.py` starts it on the
  sandbox's private loopback and relays the ipc sockets the host connects to
  (`deno_kernel_argv`);
- `deno jupyter` grants its cells every Deno permission and takes no permission flags, so
  the first thing the host runs in it (`DENO_STARTUP`) revokes those that the sandbox must
  not use (network, subprocesses, FFI, environment, system information). That is a second
  wall, never the only one: docs/security.md says what holds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from runpad.errors import DenoUnavailable
from runpad.sandbox.environment import SANDBOX_NPM_PACKAGES, SandboxEnvironment
from runpad.sandbox.limits import Limits
from runpad.sandbox.results import ExecutionError, Language

__all__ = [
    "DENO_LANGUAGES",
    "DENO_STARTUP",
    "INSIDE_RELAY",
    "INSIDE_TCP_CONNECTION",
    "RELAY_FILE",
    "DenoUnavailable",
    "cached_npm_versions",
    "check_imports",
    "deno_env",
    "deno_kernel_argv",
    "deno_print_marker",
    "explain_deno_error",
    "find_deno",
    "host_deno",
    "npm_package_names",
]

DENO_LANGUAGES: tuple[Language, ...] = ("javascript", "typescript")
"""The cell languages a Deno kernel runs (both as TypeScript: JavaScript is valid in it)."""

RELAY_FILE = Path(__file__).with_name("deno_relay.py")
"""Run inside the sandbox by its Python: the kernel on loopback, relayed to ipc sockets."""
INSIDE_RELAY = "/opt/runpad/deno_relay.py"
INSIDE_TCP_CONNECTION = "/tmp/.runpad-deno-kernel.json"
"""Where the relay writes the kernel's own (loopback TCP) connection file."""

_REVOKED = ("net", "run", "ffi", "env", "sys")
DENO_STARTUP = (
    f"for (const name of {list(_REVOKED)!r}) await Deno.permissions.revoke({{ name }});\n"
)
"""Run silently in every new Deno kernel before any cell: gives up the permissions a cell
must not have (`deno jupyter` starts with all of them). Nothing can ask for them back: a
request needs a terminal to prompt on (`DENO_NO_PROMPT`, and the kernel has none)."""

_INSTALL_HINT = (
    "Run `runpad sandbox setup` to install Deno into the sandbox environment "
    "(or `pip install deno` into it)."
)


def find_deno(environment: SandboxEnvironment) -> Path:
    """The Deno binary of the sandbox environment (`<env>/bin/deno`, from PyPI's `deno`).

    Raises:
        DenoUnavailable: it is not there; the message says how to install it.
    """
    deno = environment.deno
    if deno is None:
        raise DenoUnavailable(
            f"Deno is not installed in the sandbox environment {environment.path}, so "
            f"JavaScript and TypeScript cells cannot run. {_INSTALL_HINT}"
        )
    return deno


def host_deno(environment: SandboxEnvironment | None = None) -> Path | None:
    """A Deno binary on this machine: the sandbox environment's, else one on PATH."""
    if environment is not None and environment.deno is not None:
        return environment.deno
    found = shutil.which("deno")
    return Path(found) if found else None


def deno_kernel_argv(
    python: str,
    deno: str,
    connection_file: str,
    *,
    relay: str = INSIDE_RELAY,
    tcp_connection_file: str = INSIDE_TCP_CONNECTION,
) -> list[str]:
    """The command that starts Deno's kernel behind the relay (paths as the kernel sees
    them: inside the sandbox by default)."""
    return [
        python,
        "-I",  # the relay needs nothing but the standard library
        relay,
        connection_file,
        tcp_connection_file,
        deno,
        "jupyter",
        "--kernel",
        "--conn",
    ]


def deno_env(deno_dir: Path | str, limits: Limits) -> dict[str, str]:
    """What the Deno kernel's environment adds to the sandbox's.

    `deno_dir` is the npm cache as the kernel sees it (`SandboxEnvironment.deno_dir` where
    the environment is bound at its own path, as in the local sandbox and the docker image).
    """
    # V8 gives up with "JavaScript heap out of memory" before the memory limit kills it, so
    # the error names the cause; the rest of the session's memory stays for the Python kernel.
    heap_mb = max(64, limits.memory_mb * 3 // 4)
    return {
        "DENO_DIR": str(deno_dir),
        "DENO_NO_UPDATE_CHECK": "1",
        "DENO_NO_PROMPT": "1",
        "DENO_NO_PACKAGE_JSON": "1",
        "DENO_V8_FLAGS": f"--max-old-space-size={heap_mb}",
        "NO_COLOR": "1",  # values come back as plain text, not terminal colours
    }


def npm_package_names() -> list[str]:
    """The npm packages cached in the sandbox environment, by name (`lodash`, `d3-array`)."""
    return [_package_name(spec) for spec in SANDBOX_NPM_PACKAGES if "@types/" not in spec]


def _package_name(spec: str) -> str:
    """`lodash` of `lodash@4`, `@scope/name` of `@scope/name@1`."""
    head, _, _ = spec[1:].partition("@")
    return spec[0] + head


_REMOTE_SPECIFIER = re.compile(r"""["'`](npm|jsr):((?:@[\w.-]+/)?[\w.-]+)(?:@([^/"'`\s]+))?""")
_EXACT = re.compile(r"\d+\.\d+\.\d+")
_IMPORT_FAILURE = re.compile(r"Import '[^']*' failed|Module not found \"https?:")
_NETWORK_REFUSED = re.compile(r"Requires net access")


def check_imports(
    code: str, versions: Mapping[str, Sequence[str]] | None = None
) -> ExecutionError | None:
    """The error of a cell that imports a package the sandbox does not have, before it runs.

    Deno's kernel reports nothing when an `npm:` import it cannot download fails (the cell
    just leaves the name undefined), so the host looks at the cell's specifiers first.
    `versions` (from `cached_npm_versions`) lets it check exact versions too.
    """
    cached = {_package_name(spec): spec for spec in SANDBOX_NPM_PACKAGES}
    for registry, name, version in _REMOTE_SPECIFIER.findall(code):
        spec = cached.get(name) if registry == "npm" else None
        if (
            spec is None
            or (version and not _same_major(version, spec))
            or (
                versions is not None
                and _EXACT.fullmatch(version)
                and version not in versions.get(name, ())
            )
        ):
            wanted = f"{registry}:{name}" + (f"@{version}" if version else "")
            return ExecutionError(
                name="ImportError",
                value=f"{wanted} is not available: the sandbox has no network, so a cell can "
                f"import only the npm packages cached in it: {_available(versions)}. Write the "
                "code without it.",
            )
    return None


def cached_npm_versions(deno_dir: Path) -> dict[str, list[str]]:
    """The versions of each npm package in a DENO_DIR's cache (a directory per version)."""
    registry = deno_dir / "npm" / "registry.npmjs.org"
    versions: dict[str, list[str]] = {}
    for name in npm_package_names():
        with contextlib.suppress(OSError):
            versions[name] = sorted(p.name for p in (registry / name).iterdir() if p.is_dir())
    return versions


def deno_print_marker(text: str) -> str:
    """JavaScript that prints `text` on stdout (`KernelDriver.execute`'s end-of-output mark)."""
    return f"console.log({json.dumps(text)})"


def explain_deno_error(error: ExecutionError) -> ExecutionError:
    """An error that came of the missing network, told as such (with the npm packages the
    sandbox has, when it was an import)."""
    text = f"{error.value}\n{error.traceback}"
    if _IMPORT_FAILURE.search(text):
        hint = (
            "\n[runpad] The sandbox has no network: modules cannot be downloaded, and a cell "
            f"can import only the npm packages cached in it: {_available()}."
        )
    elif _NETWORK_REFUSED.search(text):
        hint = "\n[runpad] The sandbox has no network: work with the files in the work dir instead."
    else:
        return error
    return dataclasses.replace(
        error,
        value=error.value + hint,
        traceback=error.traceback + hint if error.traceback else "",
    )


def _available(versions: Mapping[str, Sequence[str]] | None = None) -> str:
    return ", ".join(
        f"npm:{name}"
        + (f" ({', '.join(versions[name])})" if versions and versions.get(name) else "")
        for name in npm_package_names()
    )


def _same_major(version: str, spec: str) -> bool:
    """Whether a cell's version (`4`, `^4.17`, `4.17.21`) can match the cached `name@major`."""
    cached_major = spec.rpartition("@")[2]
    requested = version.lstrip("^~=v")
    if not requested[:1].isdigit():  # a tag or a range: leave it to Deno
        return True
    return requested.split(".")[0] == cached_major
