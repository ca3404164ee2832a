"""Sandboxes to attack, each proven isolated from the inside before any attack runs in it.

`isolated_sandbox` starts a session of every backend in `SECURE_BACKENDS` and runs a probe
cell in it: an unprivileged uid, a private process and network namespace, a read-only root
and a seccomp filter. A session that lacks any of them is never attacked: the test fails in
CI and is skipped elsewhere, with the reason. Attacks that need a host-side limit (a fork
bomb needs the pids cgroup) ask for it with `require_limits`, under the same rule.

A new backend (docker) joins by adding its name to `SECURE_BACKENDS` and, when the host
enforces limits on it, a branch to `enforced_limits`.

JavaScript and TypeScript cells run in a Deno kernel of the same session, in a sandbox of its
own. `deno_sandbox` proves that one too before any JavaScript attack runs: it starts the
Deno kernel and looks at its process from this host (namespaces, uid, seccomp, interfaces,
a read-only root), since Deno's own permissions keep a cell from reading /proc. A backend
joins by a branch in `deno_kernel_root`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from runpad.sandbox import Limits, LocalSandbox, Sandbox, open_sandbox
from runpad.sandbox.limits import MiB
from tests.fixtures.requirements import unavailable

SECURE_BACKENDS = ["local", "docker"]
"""Backends that claim isolation; every attack runs against each."""

ATTACK_LIMITS = Limits(
    timeout=10,
    interrupt_grace=1.0,
    memory_mb=512,
    processes=64,
    disk_mb=64,
    tmp_mb=32,
    spill_bytes=8 * MiB,
)
"""Small limits, so that bombs hit them in seconds."""

HOST_SECRET_VARIABLE = "RUNPAD_SECURITY_SECRET"
"""Set in the test process, with a fresh value, before every session starts."""

SANDBOX_UID = 1000

RequireLimits = Callable[..., None]
"""`require_limits("pids", ...)`: refuse the calling test unless the host enforces those."""

# Runs inside the session; prints one JSON line of facts only isolation produces.
_PROBE = """\
def _isolation_probe():
    import json, os, socket
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
    return json.dumps({
        "uid": os.getuid(),
        "pid": os.getpid(),
        "processes": sum(name.isdigit() for name in os.listdir("/proc")),
        "interfaces": [name for _, name in socket.if_nameindex()],
        "root_read_only": bool(os.statvfs("/").f_flag & os.ST_RDONLY),
        "seccomp": int(status["Seccomp"]),
    })
print(_isolation_probe())
del _isolation_probe
"""


@dataclass(frozen=True)
class Isolation:
    """What the probe saw inside a session."""

    uid: int
    pid: int
    processes: int
    interfaces: list[str]
    root_read_only: bool
    seccomp: int

    def problems(self) -> list[str]:
        """Every way this session is not isolated, in words; empty when it is."""
        problems = []
        if self.uid != SANDBOX_UID:
            problems.append(f"code runs as uid {self.uid}, not the unprivileged {SANDBOX_UID}")
        # In a private pid namespace the kernel is one of a handful of processes.
        if self.pid > 10 or self.processes > 10:
            problems.append(
                f"the process namespace is the host's (pid {self.pid}, "
                f"{self.processes} processes in /proc)"
            )
        if self.interfaces != ["lo"]:
            problems.append(f"network interfaces other than lo: {self.interfaces}")
        if not self.root_read_only:
            problems.append("the root file system is writable")
        if self.seccomp != 2:  # 2: a filter is installed
            problems.append(f"no seccomp filter (Seccomp: {self.seccomp})")
        return problems


def refuse(reason: str) -> NoReturn:
    """Stop a test that must not attack this session: a failure in CI, a skip elsewhere."""
    unavailable(f"not attacking an unverified sandbox: {reason}")


def enforced_limits(sandbox: Sandbox) -> set[str]:
    """The host-side limits ('pids', 'memory', 'cpu', 'disk') holding this session."""
    if isinstance(sandbox, LocalSandbox):
        return sandbox.cgroup_controllers | ({"disk"} if sandbox.disk_limited else set())
    if sandbox.backend == "docker":  # the engine's cgroups hold every container
        return {"pids", "memory", "cpu"} | (
            {"disk"} if getattr(sandbox, "disk_limited", False) else set()
        )
    return set()


@pytest.fixture
def host_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """A secret in the test process's environment, where a session could inherit it."""
    secret = f"runpad-secret-{secrets.token_hex(16)}"
    monkeypatch.setenv(HOST_SECRET_VARIABLE, secret)
    return secret


@pytest.fixture(params=[pytest.param(name, marks=pytest.mark.sandbox) for name in SECURE_BACKENDS])
async def isolated_sandbox(
    request: pytest.FixtureRequest, require_sandbox: None, host_secret: str
) -> AsyncIterator[Sandbox]:
    """A started session whose isolation a probe cell has just confirmed from the inside."""
    if request.param == "docker":
        request.getfixturevalue("docker_image")
    async with open_sandbox(request.param, limits=ATTACK_LIMITS) as sandbox:
        probe = await sandbox.run(_PROBE)
        if not probe.ok:
            refuse(f"the isolation probe failed: {probe.error}")
        isolation = Isolation(**json.loads(probe.stdout))
        if problems := isolation.problems():
            refuse("; ".join(problems))
        yield sandbox


@pytest.fixture
def require_limits(isolated_sandbox: Sandbox) -> RequireLimits:
    """Refuses the calling test unless the host enforces the named limits on the session."""

    def require(*names: str) -> None:
        if missing := sorted(set(names) - enforced_limits(isolated_sandbox)):
            refuse(
                f"the host does not enforce {', '.join(missing)} limits on this session "
                "(run as root with a writable cgroup tree; `runpad sandbox check` says more)"
            )

    return require


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A destructive test that could run outside a verified sandbox is a usage error."""
    here = Path(__file__).parent
    for item in items:
        if (
            item.get_closest_marker("destructive") is not None
            and item.path.is_relative_to(here)
            and "isolated_sandbox" not in getattr(item, "fixturenames", ())
        ):
            raise pytest.UsageError(
                f"{item.nodeid} is marked destructive but does not use isolated_sandbox"
            )


# -- the Deno kernel of JavaScript and TypeScript cells ------------------------------------------

_DENO_PROBE = "Deno.pid"
"""Starts the session's Deno kernel; its answer is the kernel's pid inside its namespace."""


def deno_kernel_root(sandbox: Sandbox) -> int:
    """The host pid of the process under which the session runs its Deno kernel."""
    if isinstance(sandbox, LocalSandbox):
        process = sandbox._deno_process  # the launcher of bwrap, of the relay, of deno
        if process is None:
            raise AssertionError("the session has no Deno kernel process")
        return process.pid
    if sandbox.backend == "docker":
        from runpad.sandbox.docker.sandbox import DockerSandbox

        assert isinstance(sandbox, DockerSandbox)
        container = sandbox.deno_container
        container.reload()
        return int(container.attrs["State"]["Pid"])
    raise AssertionError(f"no host view of the {sandbox.backend} backend's Deno kernel")


def _descendants(pid: int) -> Iterator[int]:
    yield pid
    with contextlib.suppress(OSError):  # gone meanwhile
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                yield from _descendants(int(child))


def _deno_process(root: int) -> int:
    for pid in _descendants(root):
        if Path(f"/proc/{pid}/comm").read_text().strip() == "deno":
            return pid
    raise AssertionError(f"no deno process under pid {root}")


def _inside_uid(pid: int, status: dict[str, str]) -> int:
    """The process's uid in its own user namespace, read from this host."""
    host_uid = int(status["Uid"].split()[0])
    if os.readlink(f"/proc/{pid}/ns/user") == os.readlink("/proc/self/ns/user"):
        return host_uid
    for line in Path(f"/proc/{pid}/uid_map").read_text().splitlines():
        inside, outside, count = (int(field) for field in line.split())
        if outside <= host_uid < outside + count:
            return inside + host_uid - outside
    raise AssertionError(f"uid {host_uid} is not mapped into pid {pid}'s user namespace")


def _root_read_only(pid: int) -> bool:
    """Whether the last mount on the process's / (the one it sees) is read-only."""
    options = [
        line.split()[5].split(",")
        for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
        if line.split()[4] == "/"
    ]
    return bool(options) and "ro" in options[-1]


def deno_kernel_isolation(sandbox: Sandbox, inside_pid: int) -> Isolation:
    """What this host sees of the session's Deno kernel process, as the probe's facts."""
    pid = _deno_process(deno_kernel_root(sandbox))
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    status = {key: value.strip() for key, value in status.items()}
    if int(status["NSpid"].split()[-1]) != inside_pid:
        raise AssertionError(f"pid {pid} is not the kernel that answered (pid {inside_pid})")
    namespace = os.readlink(f"/proc/{pid}/ns/pid")
    processes = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):  # gone meanwhile
                processes += os.readlink(entry / "ns" / "pid") == namespace
    devices = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    return Isolation(
        uid=_inside_uid(pid, status),
        pid=inside_pid,
        processes=processes,
        interfaces=sorted(line.split(":", 1)[0].strip() for line in devices),
        root_read_only=_root_read_only(pid),
        seccomp=int(status["Seccomp"]),
    )


@pytest.fixture
async def deno_sandbox(isolated_sandbox: Sandbox) -> Sandbox:
    """`isolated_sandbox` with its Deno kernel started and proven isolated from this host."""
    if "javascript" not in isolated_sandbox.languages:
        pytest.skip(f"{isolated_sandbox.backend!r} runs no JavaScript cells")
    probe = await isolated_sandbox.run(_DENO_PROBE, language="javascript")
    if not probe.ok or probe.text is None:
        refuse(f"the Deno kernel did not start: {probe.error}")
    isolation = deno_kernel_isolation(isolated_sandbox, int(probe.text))
    if problems := isolation.problems():
        refuse("the Deno kernel: " + "; ".join(problems))
    return isolated_sandbox
