"""The default backend: an IPython kernel inside a hardened bubblewrap sandbox.

Layers, outermost first (see docs/security.md for what each one stops):
- a cgroup per session: memory, processes, CPU (rlimits where cgroups are not writable);
- the work dir is a size-limited tmpfs mounted by the host (disk), where the host may mount;
- bubblewrap, started with an empty environment: every namespace (user, pid, net, ipc,
  uts, mount, cgroup), no nested user namespaces, uid 1000, a read-only root built from
  read-only binds of the system and the sandbox environment, synthetic passwd and group,
  size-limited tmpfs for /tmp and home, one writable work dir, no network interface but a
  private loopback;
- a seccomp filter (`runpad.sandbox.local.seccomp`).
The kernel talks to the host over ipc sockets in a bind-mounted directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import shutil
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from runpad.errors import SandboxStartError, SandboxUnavailable
from runpad.home import runpad_home
from runpad.sandbox.environment import SandboxEnvironment, find_environment
from runpad.sandbox.kernel.deno import (
    DENO_LANGUAGES,
    INSIDE_RELAY,
    RELAY_FILE,
    cached_npm_versions,
    deno_env,
    deno_kernel_argv,
    find_deno,
)
from runpad.sandbox.kernel.driver import (
    STARTUP_FILE,
    KernelDriver,
    KernelSandbox,
    connection_info,
    kernel_argv,
)
from runpad.sandbox.limits import Limits, MiB
from runpad.sandbox.local.cgroups import SessionCgroup, create_session_cgroup, sweep_orphan_cgroups
from runpad.sandbox.local.seccomp import seccomp_filter_fd
from runpad.sandbox.output import KernelLog
from runpad.sandbox.results import Language
from runpad.sandbox.session_layout import (
    ETC_ENTRIES,
    INSIDE_HOME,
    INSIDE_IPC,
    INSIDE_STARTUP,
    INSIDE_WORK,
    SANDBOX_UID,
    Mounts,
    make_ipc_dir,
    remove_ipc_dir,
    remove_session_dir,
    sandbox_env,
    sweep_orphan_sessions,
)
from runpad.sandbox.workdir import WorkDir

__all__ = ["LocalSandbox", "SandboxLayout", "bwrap_argv", "find_bwrap", "launcher_argv"]

logger = logging.getLogger(__name__)

_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_INSTALL_BWRAP = "apt-get install -y bubblewrap (Debian/Ubuntu) or dnf install bubblewrap"


def find_bwrap() -> str:
    """Path of the bwrap program; SandboxUnavailable with the install hint if missing."""
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxUnavailable(
            f"bubblewrap (bwrap) is not installed, so the local sandbox cannot isolate code. "
            f"Install it with: {_INSTALL_BWRAP}. Or choose another backend (docker, e2b); "
            "the 'unsafe-local' backend runs code without any isolation."
        )
    return path


@dataclass(frozen=True)
class SandboxLayout:
    """The host directories of one session.

    `ipc_name` changes at every kernel launch: the sandbox can write in its ipc dir (the
    kernel makes its sockets there), so the host never reuses one; a new kernel gets a
    fresh directory the old one never saw, and nothing planted there can redirect the host.
    """

    session_dir: Path
    environment: SandboxEnvironment
    ipc_name: str = "ipc"

    @property
    def work(self) -> Path:
        return self.session_dir / "work"

    @property
    def ipc(self) -> Path:
        return self.session_dir / self.ipc_name

    @property
    def etc(self) -> Path:
        return self.session_dir / "etc"

    def create(self) -> None:
        for directory in (self.work, self.ipc, self.etc):
            directory.mkdir(parents=True, exist_ok=True)
        (self.session_dir / "owner").write_text(str(os.getpid()))
        (self.etc / "passwd").write_text(
            f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:runpad sandbox:{INSIDE_HOME}:/bin/bash\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        )
        (self.etc / "group").write_text(f"sandbox:x:{SANDBOX_UID}:\nnogroup:x:65534:\n")
        (self.etc / "hosts").write_text("127.0.0.1 localhost sandbox\n::1 localhost\n")
        (self.etc / "hostname").write_text("sandbox\n")


def bwrap_argv(
    layout: SandboxLayout,
    limits: Limits,
    command: list[str],
    seccomp_fd: int | None,
    *,
    extra_env: Mapping[str, str] | None = None,
    extra_files: Mapping[str, Path] | None = None,
) -> list[str]:
    """The bubblewrap command line that runs `command` in a session's sandbox.

    `extra_env` adds to the sandbox's environment; `extra_files` binds more host files
    read-only, by their path inside (the Deno kernel's relay script).
    """
    argv = [
        find_bwrap(),
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--hostname",
        "sandbox",
    ]
    for directory in _SYSTEM_DIRS:
        path = Path(directory)
        if path.is_symlink():  # merged /usr: /bin -> usr/bin
            argv += ["--symlink", os.readlink(path), directory]
        elif path.is_dir():
            argv += ["--ro-bind", directory, directory]
    for entry in ETC_ENTRIES:
        if os.path.exists(f"/etc/{entry}"):
            argv += ["--ro-bind", f"/etc/{entry}", f"/etc/{entry}"]
    # The sandbox's uid owns whatever root owns, so no mode hides a file in a bind: /etc/ssl
    # comes for its certificates, and its private keys (mode 0710) are covered up.
    if os.path.isdir("/etc/ssl/private"):
        argv += ["--tmpfs", "/etc/ssl/private", "--remount-ro", "/etc/ssl/private"]
    for name in ("passwd", "group", "hosts", "hostname"):
        argv += ["--ro-bind", str(layout.etc / name), f"/etc/{name}"]
    environment = layout.environment
    for path in {environment.interpreter_prefix, environment.path.resolve()}:
        if not str(path).startswith("/usr/"):
            argv += ["--ro-bind", str(path), str(path)]
    if environment.path.resolve() != environment.path:  # keep the venv's own path valid
        argv += ["--symlink", str(environment.path.resolve()), str(environment.path)]
    tmp_bytes = str(limits.tmp_mb * MiB)
    argv += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        tmp_bytes,
        "--tmpfs",
        "/dev/shm",
        "--size",
        tmp_bytes,
        "--tmpfs",
        "/tmp",
        "--size",
        tmp_bytes,
        "--tmpfs",
        INSIDE_HOME,
        "--dir",
        f"{INSIDE_HOME}/.config/matplotlib",
        "--bind",
        str(layout.work),
        INSIDE_WORK,
        "--bind",
        str(layout.ipc),
        INSIDE_IPC,
        # The host rewrites kernel.json at every restart; writable, it could be swapped for
        # a symlink that makes the host overwrite any of its files. A mount can't be replaced.
        "--ro-bind-try",
        str(layout.ipc / "kernel.json"),
        f"{INSIDE_IPC}/kernel.json",
        "--ro-bind",
        str(STARTUP_FILE),
        INSIDE_STARTUP,
    ]
    for inside, host_file in (extra_files or {}).items():
        argv += ["--ro-bind", str(host_file), inside]
    if (font_cache := environment.mpl_font_cache) is not None:
        argv += [
            "--ro-bind",
            str(font_cache),
            f"{INSIDE_HOME}/.config/matplotlib/{font_cache.name}",
        ]
    # uid 1000 here is root outside when bwrap runs as root, and the kernel lets root's uid
    # write global sysctls (/proc/sys/kernel/core_pattern: code execution on the host)
    # whatever its capabilities: /proc is read-only. A read-only /dev keeps the sandbox
    # from filling memory there past tmp_mb; its device nodes stay writable.
    argv += ["--remount-ro", "/", "--remount-ro", "/proc", "--remount-ro", "/dev"]
    argv += ["--chdir", INSIDE_WORK]
    for key, value in {**sandbox_env(environment, limits), **(extra_env or {})}.items():
        argv += ["--setenv", key, value]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    return [*argv, "--", *command]


def launcher_argv(
    cgroup: SessionCgroup | None,
    limits: Limits,
    inner: list[str],
    *,
    address_space_limit: bool = True,
) -> list[str]:
    """Join the session's cgroup, set rlimits, clear the environment, then exec `inner`.

    The shell joins the cgroup before exec, so nothing the sandbox starts escapes it.
    `address_space_limit=False` drops the address-space stand-in for a memory cgroup, for
    programs that cannot start under it (V8 reserves tens of GiB it never uses).
    """
    rlimits = [f"--fsize={limits.disk_mb * MiB}", "--nofile=4096"]
    controllers = cgroup.controllers if cgroup else set()
    if "memory" not in controllers and address_space_limit:
        # Address space is a rough stand-in for memory: libraries reserve more than they use.
        rlimits.append(f"--as={limits.memory_mb * 4 * MiB}")
    if "cpu" not in controllers and limits.cpu_seconds is not None:
        rlimits.append(f"--cpu={limits.cpu_seconds}")
    if "pids" not in controllers and os.getuid() != 0:
        rlimits.append(f"--nproc={limits.processes}")  # ignored for root, so only here
    join = " ".join(str(p) for p in cgroup.procs_files) if cgroup else ""
    script = 'for f in $0; do echo $$ > "$f" || exit 125; done; exec "$@"'
    return ["/bin/sh", "-c", script, join, "prlimit", *rlimits, "--", "env", "-i", *inner]


class LocalSandbox(KernelSandbox):
    """An IPython kernel in a hardened bubblewrap sandbox on this machine.

    Args:
        limits: resource limits; see `Limits`.
        environment: the sandbox environment (default: the one `runpad sandbox setup` made).
        sessions_dir: where session directories go (default: `<runpad home>/sessions`).

    Example:
        ```python
        async with LocalSandbox() as sandbox:
            execution = await sandbox.run("import numpy as np; np.arange(3).sum()")
            print(execution.text)  # 3
        ```
    """

    backend = "local"
    languages: ClassVar[tuple[Language, ...]] = ("python", "shell", *DENO_LANGUAGES)

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        environment: SandboxEnvironment | None = None,
        sessions_dir: Path | None = None,
    ) -> None:
        super().__init__(limits)
        self._environment = environment
        self._sessions_dir = sessions_dir or runpad_home() / "sessions"
        self._layout: SandboxLayout | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._cgroup: SessionCgroup | None = None
        self._oom_baseline = 0
        self._work_mounted = False
        self._log: KernelLog | None = None
        self._deno_process: asyncio.subprocess.Process | None = None
        self._deno_log: KernelLog | None = None
        self._deno_cgroup: SessionCgroup | None = None
        self._deno_ipc: Path | None = None
        self._deno_oom_baseline = 0
        self._npm_cache: dict[str, list[str]] | None = None
        self.session_id = secrets.token_hex(6)

    @property
    def layout(self) -> SandboxLayout:
        if self._layout is None:
            raise SandboxStartError("The sandbox is not started.")
        return self._layout

    @property
    def disk_limited(self) -> bool:
        """Whether the work dir is a size-limited tmpfs (else only a per-file limit holds)."""
        return self._work_mounted

    @property
    def cgroup_controllers(self) -> set[str]:
        return set(self._cgroup.controllers) if self._cgroup else set()

    async def _start(self) -> None:
        # File-system work runs in a thread: an event loop (LangGraph's server among them)
        # must not block on it.
        layout = await asyncio.to_thread(self._create_layout)
        self._layout = layout
        self._workdir = WorkDir(layout.work)
        self._cgroup = await asyncio.to_thread(
            create_session_cgroup, f"{os.getpid()}-{self.session_id}", self.limits
        )
        try:
            self._driver = await self._launch_kernel()
        except BaseException:
            await self._cleanup()
            raise

    def _create_layout(self) -> SandboxLayout:
        find_bwrap()
        environment = self._environment or find_environment()
        sweep_orphan_cgroups()
        sweep_orphan_sessions(self._sessions_dir)
        layout = SandboxLayout(self._sessions_dir / self.session_id, environment)
        layout.create()
        if os.geteuid() == 0:
            self._work_mounted = Mounts().mount_tmpfs(layout.work, self.limits.disk_mb)
        return layout

    async def _launch_kernel(self) -> KernelDriver:
        layout = dataclasses.replace(self.layout, ipc_name=f"ipc-{secrets.token_hex(4)}")
        await asyncio.to_thread(make_ipc_dir, layout.ipc)
        self._layout = layout
        info = connection_info(f"{INSIDE_IPC}/k")
        argv, seccomp_fd = await asyncio.to_thread(self._prepare_launch, layout, info)
        self._process, self._log = await self._spawn(argv, seccomp_fd)
        driver = KernelDriver({**info, "ip": str(layout.ipc / "k")}, self._kernel_alive)
        try:
            await driver.connect(self.limits.start_timeout)
        except BaseException as exc:
            driver.close()
            await self._stop_kernel()
            if isinstance(exc, SandboxStartError):
                log = await asyncio.to_thread(self._log_tail)
                raise SandboxStartError(f"{exc}\nKernel log:\n{log}") from exc
            raise
        return driver

    async def _spawn(
        self, argv: list[str], seccomp_fd: int
    ) -> tuple[asyncio.subprocess.Process, KernelLog]:
        """Start a kernel's launch command; its output goes to the returned log."""
        # The kernel's stdout and stderr: a pipe this process drains, never a file on the
        # host's disk (a cell can write to the descriptors the kernel inherited).
        log_read, log_write = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_write,
                stderr=log_write,
                pass_fds=(seccomp_fd,),
                env={},
                start_new_session=True,
            )
        except BaseException:
            os.close(log_read)
            raise
        finally:
            os.close(seccomp_fd)
            os.close(log_write)
        return process, KernelLog(log_read, self.limits.kernel_log_bytes)

    def _prepare_launch(self, layout: SandboxLayout, info: dict[str, Any]) -> tuple[list[str], int]:
        """The launch command and the seccomp filter's fd (blocking)."""
        (layout.ipc / "kernel.json").write_text(json.dumps(info))
        command = kernel_argv(
            str(layout.environment.python), f"{INSIDE_IPC}/kernel.json", INSIDE_STARTUP
        )
        self._oom_baseline = self._cgroup.memory_events() if self._cgroup else 0
        seccomp_fd = seccomp_filter_fd()
        try:
            argv = launcher_argv(
                self._cgroup, self.limits, bwrap_argv(layout, self.limits, command, seccomp_fd)
            )
        except BaseException:
            os.close(seccomp_fd)
            raise
        return argv, seccomp_fd

    def _kernel_alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def _death_reason(self) -> str:
        code = self._process.returncode if self._process else None
        if self._cgroup and self._cgroup.memory_events() > self._oom_baseline:
            return (
                f"it ran out of memory (the session may use {self.limits.memory_mb} MB; "
                "raise Limits.memory_mb or use less memory)"
            )
        if code is not None and code < 0:
            return f"it was killed by signal {signal.Signals(-code).name}"
        return f"it exited with status {code}"

    async def _stop_kernel(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()  # bwrap's --die-with-parent takes everything inside with it
            await process.wait()
        if self._cgroup is not None:
            await asyncio.to_thread(self._cgroup.kill_all)
        if self._layout is not None:
            await asyncio.to_thread(remove_ipc_dir, self._layout.ipc)

    # -- the Deno kernel of JavaScript and TypeScript cells ------------------------------------

    async def _launch_deno_kernel(self) -> KernelDriver:
        """Deno's kernel in a sandbox of its own, built like the Python kernel's: the same
        work dir, environment, seccomp filter and bubblewrap walls, a cgroup inside the
        session's (one set of limits for both kernels), and an ipc dir of its own."""
        layout = dataclasses.replace(self.layout, ipc_name=f"ipc-deno-{secrets.token_hex(4)}")
        deno = find_deno(layout.environment)
        await asyncio.to_thread(make_ipc_dir, layout.ipc)
        self._deno_ipc = layout.ipc
        info = connection_info(f"{INSIDE_IPC}/k")
        argv, seccomp_fd = await asyncio.to_thread(self._prepare_deno_launch, layout, info, deno)
        self._deno_process, self._deno_log = await self._spawn(argv, seccomp_fd)
        driver = KernelDriver({**info, "ip": str(layout.ipc / "k")}, self._deno_kernel_alive)
        try:
            await driver.connect(self.limits.start_timeout)
        except BaseException as exc:
            driver.close()
            await self._stop_deno_kernel()
            if isinstance(exc, SandboxStartError):
                log = await asyncio.to_thread(self._deno_log_tail)
                raise SandboxStartError(f"{exc}\nDeno kernel log:\n{log}") from exc
            raise
        return driver

    def _prepare_deno_launch(
        self, layout: SandboxLayout, info: dict[str, Any], deno: Path
    ) -> tuple[list[str], int]:
        """The Deno kernel's launch command and the seccomp filter's fd (blocking)."""
        (layout.ipc / "kernel.json").write_text(json.dumps(info))
        environment = layout.environment
        command = deno_kernel_argv(str(environment.python), str(deno), f"{INSIDE_IPC}/kernel.json")
        if self._cgroup is not None and self._deno_cgroup is None:
            self._deno_cgroup = self._cgroup.child("deno")
        self._deno_oom_baseline = self._deno_oom_kills()
        seccomp_fd = seccomp_filter_fd()
        try:
            inner = bwrap_argv(
                layout,
                self.limits,
                command,
                seccomp_fd,
                extra_env=deno_env(environment.deno_dir, self.limits),
                extra_files={INSIDE_RELAY: RELAY_FILE},
            )
            # Without a memory cgroup, V8's heap limit (deno_env) bounds the kernel's memory:
            # V8 cannot start under any address-space limit below some 64 GiB.
            argv = launcher_argv(self._deno_cgroup, self.limits, inner, address_space_limit=False)
        except BaseException:
            os.close(seccomp_fd)
            raise
        return argv, seccomp_fd

    def _npm_versions(self) -> Mapping[str, Sequence[str]] | None:
        if self._npm_cache is None and self._layout is not None:
            self._npm_cache = cached_npm_versions(self._layout.environment.deno_dir)
        return self._npm_cache

    def _deno_kernel_alive(self) -> bool:
        return self._deno_process is not None and self._deno_process.returncode is None

    def _deno_death_reason(self) -> str:
        log = self._deno_log.text() if self._deno_log else ""
        if "out of memory" in log[-3000:]:
            return (
                "it ran out of memory (JavaScript's heap may use 3/4 of the session's "
                f"{self.limits.memory_mb} MB; raise Limits.memory_mb or use less memory)"
            )
        if self._deno_oom_kills() > self._deno_oom_baseline:
            return (
                f"it ran out of memory (the session may use {self.limits.memory_mb} MB; "
                "raise Limits.memory_mb or use less memory)"
            )
        code = self._deno_process.returncode if self._deno_process else None
        if code is not None and code > 128:  # the relay's status for a kernel killed by a signal
            code = 128 - code
        if code is not None and code < 0:
            return f"it was killed by signal {signal.Signals(-code).name}"
        return f"it exited with status {code}"

    def _deno_oom_kills(self) -> int:
        """Kills by the memory limit, counted in the Deno kernel's cgroup (v1) or the
        session's (v2 counts a child's events in its parent's memory.events)."""
        groups = [group for group in (self._deno_cgroup, self._cgroup) if group is not None]
        return max((group.memory_events() for group in groups), default=0)

    async def _stop_deno_kernel(self) -> None:
        process, self._deno_process = self._deno_process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        if self._deno_cgroup is not None:  # never the session's group: the Python kernel
            await asyncio.to_thread(self._deno_cgroup.kill_all)
        ipc, self._deno_ipc = self._deno_ipc, None
        if ipc is not None:
            await asyncio.to_thread(remove_ipc_dir, ipc)

    def _deno_log_tail(self) -> str:
        if self._deno_log is not None:
            self._deno_log.wait_closed(timeout=1.0)
        return (self._deno_log.text() if self._deno_log else "")[-3000:] or "(empty)"

    async def _close(self) -> None:
        await super()._close()
        await self._cleanup()

    async def _cleanup(self) -> None:
        self._deno_cgroup = None  # removed with the session's group, which holds it
        if self._cgroup is not None:
            await asyncio.to_thread(self._cgroup.remove)
            self._cgroup = None
        if self._layout is not None:
            await asyncio.to_thread(remove_session_dir, self._layout.session_dir)

    def _log_tail(self) -> str:
        if self._log is not None:
            # The kernel is gone: its last words are all in the pipe.
            self._log.wait_closed(timeout=1.0)
        return (self._log.text() if self._log else "")[-3000:] or "(empty)"
