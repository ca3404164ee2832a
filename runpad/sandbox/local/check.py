"""What the local sandbox really isolates on this machine: `runpad sandbox check`.

`check_isolation` does not trust the command line: it builds a throw-away session exactly
as `LocalSandbox` does (layout, cgroup, work dir tmpfs, seccomp filter, the same
`launcher_argv(bwrap_argv(...))`), runs a small probe script inside it and compares what the
probe sees with what the host sees. Each protection is a `Layer`; the report is `isolated`
only when every essential layer holds.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runpad.errors import DenoUnavailable, RunpadError
from runpad.sandbox.environment import find_environment
from runpad.sandbox.kernel.deno import (
    cached_npm_versions,
    deno_env,
    find_deno,
    npm_package_names,
)
from runpad.sandbox.limits import Limits, MiB
from runpad.sandbox.local.cgroups import SessionCgroup, create_session_cgroup
from runpad.sandbox.local.sandbox import (
    SandboxLayout,
    bwrap_argv,
    find_bwrap,
    launcher_argv,
)
from runpad.sandbox.local.seccomp import seccomp_filter_fd
from runpad.sandbox.session_layout import (
    INSIDE_WORK,
    Mounts,
    sandbox_env,
)

__all__ = [
    "DENIED_SOCKETS",
    "ESSENTIAL_LAYERS",
    "NAMESPACES",
    "IsolationReport",
    "Layer",
    "SandboxFacts",
    "check_isolation",
]

NAMESPACES: dict[str, str] = {
    "user": "user",
    "pid": "pid",
    "network": "net",
    "ipc": "ipc",
    "uts": "uts",
    "mount": "mnt",
    "cgroup": "cgroup",
}
"""Layer name -> the entry of /proc/self/ns that proves it."""

ESSENTIAL_LAYERS: frozenset[str] = frozenset(
    {
        "user namespace",
        "pid namespace",
        "network namespace",
        "mount namespace",
        "seccomp",
        "socket families",
        "read-only root",
        "network",
    }
)
"""Layers without which the sandbox does not count as isolated."""

DENIED_SOCKETS: dict[str, tuple[int, int, int]] = {
    "vsock": (40, 1, 0),  # AF_VSOCK, SOCK_STREAM: the hypervisor and host of a VM
    "packet": (17, 2, 0),  # AF_PACKET, SOCK_DGRAM: raw frames
    "netlink audit": (16, 3, 9),  # AF_NETLINK, SOCK_RAW, NETLINK_AUDIT
    "netlink netfilter": (16, 3, 12),  # NETLINK_NETFILTER: nf_tables, a frequent exploit path
}
"""Sockets the probe tries to make, by (family, type, protocol); each must be refused."""

# Runs inside the sandbox with the sandbox environment's python. Standard library only;
# every fact is collected on its own, so one that fails never hides the others.
PROBE = r"""
import ctypes, errno, json, os, socket

def errname(code):
    return errno.errorcode.get(code, str(code))

def write_error(directory):
    target = os.path.join(directory, ".runpad-probe")
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return errname(exc.errno)
    os.close(fd)
    os.unlink(target)
    return None

def size(path):
    try:
        stat = os.statvfs(path)
    except OSError:
        return None
    return stat.f_blocks * stat.f_frsize

def namespace(name):
    try:
        return os.readlink("/proc/self/ns/" + name)
    except OSError:
        return None

facts = {"uid": os.getuid(), "gid": os.getgid()}
facts["namespaces"] = {n: namespace(n) for n in NAMES}
facts["seccomp_mode"] = None
facts["no_new_privs"] = None
with open("/proc/self/status") as status:
    for line in status:
        key, _, value = line.partition(":")
        if key == "Seccomp":
            facts["seccomp_mode"] = int(value)
        elif key == "NoNewPrivs":
            facts["no_new_privs"] = value.strip() == "1"
facts["write_errors"] = {path: write_error(path) for path in ("/", "/usr", "/etc", "WORK")}
try:
    facts["interfaces"] = sorted(name for _, name in socket.if_nameindex())
except OSError:
    facts["interfaces"] = []
try:
    with open("/proc/net/route") as routes:
        facts["routes"] = [line.strip() for line in routes.readlines()[1:] if line.strip()]
except OSError:
    facts["routes"] = []
facts["environment"] = sorted(os.environ)
try:
    with open("/proc/1/environ", "rb") as environ:
        facts["pid1_environment"] = len([v for v in environ.read().split(b"\0") if v])
except OSError:
    facts["pid1_environment"] = None
def socket_error(family, kind, protocol):
    try:
        socket.socket(family, kind, protocol).close()
    except OSError as exc:
        return errname(exc.errno)
    return None
facts["socket_errors"] = {name: socket_error(*args) for name, args in SOCKETS.items()}
facts["tmp_bytes"] = size("/tmp")
facts["work_bytes"] = size("WORK")
facts["hostname"] = socket.gethostname()
# Last: if it worked, this process now lives in a new user namespace.
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000) == 0:
    facts["nested_userns_error"] = None
else:
    facts["nested_userns_error"] = errname(ctypes.get_errno())
print(json.dumps(facts))
""".replace("NAMES", repr(sorted(NAMESPACES.values())))
PROBE = PROBE.replace("WORK", INSIDE_WORK).replace("SOCKETS", repr(DENIED_SOCKETS))


@dataclass(frozen=True)
class Layer:
    """One protection, and whether it holds here.

    Attributes:
        name: what it is ("network namespace", "memory", ...).
        active: it holds on this machine.
        detail: how it holds, or why not and what to change.
        essential: the sandbox is not isolated without it.
    """

    name: str
    active: bool
    detail: str
    essential: bool = False


@dataclass(frozen=True)
class SandboxFacts:
    """What the probe saw from inside the sandbox (names and numbers, never values)."""

    uid: int
    gid: int
    namespaces: dict[str, str | None]
    seccomp_mode: int | None
    no_new_privs: bool | None
    write_errors: dict[str, str | None]
    """Directory -> errno name of a refused write, or None when the write succeeded."""
    interfaces: list[str]
    routes: list[str]
    socket_errors: dict[str, str | None]
    """Name in DENIED_SOCKETS -> errno name of the refusal, or None when the socket was made."""
    environment: list[str]
    """Names of the environment variables."""
    pid1_environment: int | None
    """How many variables /proc/1/environ shows (None: unreadable)."""
    tmp_bytes: int | None
    work_bytes: int | None
    hostname: str
    nested_userns_error: str | None
    """errno name of unshare(CLONE_NEWUSER), or None when it succeeded."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SandboxFacts:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class IsolationReport:
    """The isolation layers and resource limits of the local sandbox on this machine.

    Attributes:
        layers: isolation (namespaces, seccomp, file system, network, ...).
        limits: resource limits and what enforces each (cgroup, rlimit or nothing).
        runtimes: the runtimes of other cell languages (Deno for JavaScript and TypeScript):
            present and working inside the sandbox, or how to install them.
        facts: the probe's raw observations; None when it could not run.
        problem: why the sandbox could not be probed, with what to do; None when it ran.
    """

    layers: tuple[Layer, ...] = ()
    limits: tuple[Layer, ...] = ()
    facts: SandboxFacts | None = None
    problem: str | None = None
    runtimes: tuple[Layer, ...] = ()
    """Other languages' runtimes in the sandbox (Deno); none of them is essential."""

    @property
    def isolated(self) -> bool:
        """The probe ran and every essential layer holds."""
        active = {layer.name for layer in self.layers if layer.active}
        return self.problem is None and active >= ESSENTIAL_LAYERS

    def to_dict(self) -> dict[str, Any]:
        """JSON-native form, with `isolated`."""
        return {
            "isolated": self.isolated,
            "problem": self.problem,
            "layers": [asdict(layer) for layer in self.layers],
            "limits": [asdict(layer) for layer in self.limits],
            "runtimes": [asdict(layer) for layer in self.runtimes],
            "facts": asdict(self.facts) if self.facts else None,
        }


class _ProbeFailed(Exception):
    pass


def check_isolation(limits: Limits | None = None) -> IsolationReport:
    """Start a throw-away local sandbox, probe it from inside, and report what holds.

    Needs what `LocalSandbox` needs (bubblewrap and the sandbox environment); when either
    is missing the report says so in `problem` instead of raising. Everything it creates
    (session directory, work dir mount, cgroup) is removed before it returns.

    Example:
        ```python
        report = check_isolation()
        if not report.isolated:
            print(report.problem or [l.name for l in report.layers if not l.active])
        ```
    """
    limits = limits or Limits()
    try:
        find_bwrap()
        environment = find_environment()
    except RunpadError as exc:
        return IsolationReport(problem=str(exc))
    sessions_dir = Path(tempfile.mkdtemp(prefix="runpad-check-"))
    layout = SandboxLayout(sessions_dir / "probe", environment)
    cgroup: SessionCgroup | None = None
    work_mounted = False
    try:
        layout.create()
        if os.geteuid() == 0:
            work_mounted = Mounts().mount_tmpfs(layout.work, limits.disk_mb)
        cgroup = create_session_cgroup(f"{os.getpid()}-check-{secrets.token_hex(4)}", limits)
        facts = _run_probe(layout, limits, cgroup)
        return IsolationReport(
            layers=_isolation_layers(facts, layout, limits),
            limits=_limit_layers(facts, limits, cgroup, work_mounted),
            facts=facts,
            runtimes=(_deno_layer(layout, limits, cgroup),),
        )
    except (RunpadError, _ProbeFailed, OSError) as exc:
        return IsolationReport(problem=str(exc))
    finally:
        if cgroup is not None:
            cgroup.remove()
        if os.path.ismount(layout.work):
            Mounts().unmount(layout.work)
        shutil.rmtree(sessions_dir, ignore_errors=True)


def _run_probe(layout: SandboxLayout, limits: Limits, cgroup: SessionCgroup | None) -> SandboxFacts:
    command = [str(layout.environment.python), "-I", "-c", PROBE]
    seccomp_fd = seccomp_filter_fd()
    try:
        argv = launcher_argv(cgroup, limits, bwrap_argv(layout, limits, command, seccomp_fd))
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            pass_fds=(seccomp_fd,),
            env={},
            timeout=limits.start_timeout,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:
        raise _ProbeFailed(
            f"The sandbox probe did not finish within {limits.start_timeout} s "
            "(Limits.start_timeout); the machine may be overloaded."
        ) from exc
    finally:
        os.close(seccomp_fd)
    lines = result.stdout.strip().splitlines()
    try:
        return SandboxFacts.from_dict(json.loads(lines[-1]))
    except (IndexError, ValueError, KeyError, TypeError) as exc:
        joined = " (could not join the session cgroup)" if result.returncode == 125 else ""
        raise _ProbeFailed(
            f"bubblewrap could not run the probe (exit {result.returncode}){joined}: "
            f"{result.stderr.strip()[-2000:] or '(no output)'}\n"
            "bubblewrap needs user namespaces: run as root, or allow unprivileged ones "
            "(Debian: sysctl kernel.unprivileged_userns_clone=1; Ubuntu 24.04: an AppArmor "
            "profile for bwrap)."
        ) from exc


DENO_LAYER = "Deno (JavaScript, TypeScript)"


def _deno_layer(layout: SandboxLayout, limits: Limits, cgroup: SessionCgroup | None) -> Layer:
    """Whether Deno runs inside the sandbox (a line of JavaScript, under the same walls)."""
    environment = layout.environment
    try:
        deno = find_deno(environment)
    except DenoUnavailable as exc:
        return Layer(DENO_LAYER, False, str(exc))
    command = [str(deno), "eval", "console.log(Deno.version.deno)"]
    seccomp_fd = seccomp_filter_fd()
    try:
        inner = bwrap_argv(
            layout, limits, command, seccomp_fd, extra_env=deno_env(environment.deno_dir, limits)
        )
        result = subprocess.run(
            launcher_argv(cgroup, limits, inner, address_space_limit=False),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            pass_fds=(seccomp_fd,),
            env={},
            timeout=limits.start_timeout,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        return Layer(DENO_LAYER, False, f"Deno did not answer within {limits.start_timeout} s.")
    finally:
        os.close(seccomp_fd)
    version = result.stdout.strip()
    if result.returncode != 0 or not version:
        return Layer(
            DENO_LAYER,
            False,
            f"{deno} fails inside the sandbox (exit {result.returncode}): "
            f"{result.stderr.strip()[-500:] or '(no output)'}. Run `runpad sandbox setup`.",
        )
    packages = ", ".join(
        f"{name} {'/'.join(found)}" if found else f"{name} MISSING"
        for name, found in (
            (name, cached_npm_versions(environment.deno_dir).get(name, []))
            for name in npm_package_names()
        )
    )
    missing = "MISSING" in packages
    return Layer(
        DENO_LAYER,
        not missing,
        f"deno {version} ({deno}); npm packages offline: {packages}"
        + ("; run `runpad sandbox setup` to cache them" if missing else ""),
    )


def _host_namespace(name: str) -> str | None:
    with contextlib.suppress(OSError):
        return os.readlink(f"/proc/self/ns/{name}")
    return None


def _write_refused(error: str | None) -> str:
    if error is None:
        return "writable"
    code = getattr(errno, error, None)
    return f"{error} ({os.strerror(code)})" if isinstance(code, int) else error


def _isolation_layers(
    facts: SandboxFacts, layout: SandboxLayout, limits: Limits
) -> tuple[Layer, ...]:
    found: list[tuple[str, bool, str]] = []
    for label, proc_name in NAMESPACES.items():
        inside = facts.namespaces.get(proc_name)
        host = _host_namespace(proc_name)
        own = inside is not None and inside != host
        detail = f"{inside} (host: {host})" if own else f"shares the host's {host}"
        found.append((f"{label} namespace", own, detail))

    found.append(
        (
            "unprivileged user",
            facts.uid != 0 and facts.gid != 0,
            f"uid {facts.uid}, gid {facts.gid}",
        )
    )
    mode = facts.seccomp_mode
    mode_name = {0: "disabled", 1: "strict", 2: "filter"}.get(
        -1 if mode is None else mode, "unknown"
    )
    privs = ", no_new_privs" if facts.no_new_privs else ""
    found.append(("seccomp", mode == 2, f"mode {mode} ({mode_name}){privs}"))

    # A missing entry (an older probe) counts as made: the layer must be shown to hold.
    made = [name for name in DENIED_SOCKETS if facts.socket_errors.get(name) is None]
    refused = ", ".join(
        f"{name} {facts.socket_errors[name]}" for name in DENIED_SOCKETS if name not in made
    )
    sockets = (
        f"sockets the filter must refuse were made: {', '.join(made)}; refused: {refused or 'none'}"
        if made
        else f"only unix, inet, inet6 and netlink route; refused: {refused}"
    )
    found.append(("socket families", not made, sockets))

    root, usr = facts.write_errors.get("/"), facts.write_errors.get("/usr")
    writes = (
        f"writes to / and /usr: {_write_refused(root)}"
        if root == usr
        else f"writes to /: {_write_refused(root)}; to /usr: {_write_refused(usr)}"
    )
    found.append(("read-only root", root == "EROFS" and usr == "EROFS", writes))
    work = facts.write_errors.get(INSIDE_WORK)
    found.append(("writable work dir", work is None, f"{INSIDE_WORK}: {_write_refused(work)}"))

    found.append(
        (
            "network",
            facts.interfaces in ([], ["lo"]) and not facts.routes,
            f"interfaces: {', '.join(facts.interfaces) or 'none'}; "
            f"routes: {len(facts.routes) or 'none'}",
        )
    )
    nested = facts.nested_userns_error
    found.append(
        (
            "no nested user namespaces",
            nested is not None,
            f"unshare(CLONE_NEWUSER): {nested or 'allowed'}",
        )
    )

    expected = {*sandbox_env(layout.environment, limits), "PWD"}  # bwrap's --chdir sets PWD
    leaked = sorted(set(facts.environment) - expected)
    pid1 = facts.pid1_environment
    origin = f"from the host: {', '.join(leaked)}" if leaked else "all set by runpad"
    found.append(
        (
            "clean environment",
            not leaked and not pid1,
            f"{len(facts.environment)} variables, {origin}; "
            f"/proc/1/environ: {'unreadable' if pid1 is None else pid1}",
        )
    )
    return tuple(
        Layer(name, active, detail, essential=name in ESSENTIAL_LAYERS)
        for name, active, detail in found
    )


def _cgroup_value(cgroup: SessionCgroup, *files: str) -> str | None:
    for directory in cgroup.directories:
        for name in files:
            with contextlib.suppress(OSError):
                return (directory / name).read_text().strip()
    return None


def _limit_layers(
    facts: SandboxFacts, limits: Limits, cgroup: SessionCgroup | None, work_mounted: bool
) -> tuple[Layer, ...]:
    controllers = cgroup.controllers if cgroup else set()
    layers: list[Layer] = []

    if cgroup is not None and "pids" in controllers:
        layers.append(
            Layer("processes", True, f"cgroup pids.max = {_cgroup_value(cgroup, 'pids.max')}")
        )
    elif os.getuid() != 0:
        layers.append(Layer("processes", True, f"rlimit NPROC = {limits.processes} (per uid)"))
    else:
        layers.append(
            Layer(
                "processes",
                False,
                "none: no writable pids cgroup, and RLIMIT_NPROC does not bind root",
            )
        )

    if cgroup is not None and "memory" in controllers:
        raw = _cgroup_value(cgroup, "memory.limit_in_bytes", "memory.max") or "?"
        shown = f"{int(raw) // MiB} MB" if raw.isdigit() else raw
        layers.append(Layer("memory", True, f"cgroup memory limit = {shown} for the session"))
    else:
        layers.append(
            Layer(
                "memory",
                True,
                f"rlimit AS = {limits.memory_mb * 4} MB of address space per process "
                "(no writable memory cgroup)",
            )
        )

    if cgroup is not None and "cpu" in controllers:
        quota = _cgroup_value(cgroup, "cpu.cfs_quota_us")
        period = _cgroup_value(cgroup, "cpu.cfs_period_us")
        if quota is not None and period is not None:
            shown = f"{int(quota) / int(period):g} CPU"
        else:
            shown = _cgroup_value(cgroup, "cpu.max") or "?"
        layers.append(Layer("cpu", True, f"cgroup quota = {shown}"))
    elif limits.cpu_seconds is not None:
        layers.append(Layer("cpu", True, f"rlimit CPU = {limits.cpu_seconds} s per process"))
    else:
        layers.append(Layer("cpu", False, "none: no writable cpu cgroup; set Limits.cpu_seconds"))

    work = facts.work_bytes
    if work_mounted and work is not None and work <= limits.disk_mb * MiB:
        layers.append(Layer("disk", True, f"work dir is a {work // MiB} MB tmpfs"))
    else:
        why = "mounting a tmpfs needs root" if os.geteuid() != 0 else "could not mount a tmpfs"
        layers.append(
            Layer(
                "disk",
                True,
                f"rlimit FSIZE = {limits.disk_mb} MB per file; the work dir's total is not "
                f"capped ({why})",
            )
        )

    tmp = facts.tmp_bytes
    layers.append(
        Layer(
            "/tmp",
            tmp is not None and tmp <= limits.tmp_mb * MiB,
            f"tmpfs of {tmp // MiB} MB (also $HOME and /dev/shm)"
            if tmp is not None
            else "size unknown",
        )
    )
    layers.append(
        Layer(
            "output",
            True,
            f"capped on the host: {limits.output_bytes} characters per stream kept, "
            "the rest spilled to an artifact",
        )
    )
    layers.append(
        Layer(
            "wall time",
            True,
            f"host-side timeout: {limits.timeout:g} s per cell, then interrupt, "
            f"then kill after {limits.interrupt_grace:g} s",
        )
    )
    return tuple(layers)
