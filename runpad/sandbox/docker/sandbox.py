"""The `docker` backend: the same IPython kernel as `local`, in a hardened container.

Containers are created, started, stopped and removed through the Docker API (killing a
CLI process would leave the container running), and carry labels naming the process that
owns them, so that `remove_orphan_containers` finds those whose owner died without
closing. Every session removes the orphans of this host when it starts.

JavaScript and TypeScript cells run in Deno's kernel (`runpad.sandbox.kernel.deno`), started at
a session's first such cell in a container of its own: the same image, hardening, limits,
work dir and seccomp filter as the Python kernel's, its own ipc dir, and the loopback-to-ipc
relay that Deno's TCP-only kernel needs. Each container holds its own limits, so a session
with both kernels may use twice `Limits.memory_mb` and `Limits.processes`.

Hardening: no network (`network_mode="none"`, and no resolver), a read-only root file
system, size-limited tmpfs for /tmp, /dev/shm and the home directory, limits on memory
(swap included), processes and CPU, every capability dropped, no-new-privileges, uid 1000,
the local backend's seccomp filter in place of the engine's default profile (socket
families included), an engine log of the kernel's output kept to a small ring
(`Limits.kernel_log_bytes`), and an init process that reaps orphans. Each kernel gets a
container of its own (a restart makes a new one), with a fresh ipc dir, as `local` does.
The work dir and the ipc dir are bind mounts of a session directory on this machine, laid
out as in `local`, so files, artifacts and the kernel protocol are shared code; the Docker
engine must therefore run on this machine.

The image comes from `runpad sandbox docker-build` (no registry needed) or from
docker/Dockerfile; see `runpad.sandbox.docker.image`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from runpad.errors import (
    DenoUnavailable,
    MissingDependencyError,
    SandboxStartError,
    SandboxUnavailable,
)

try:
    import docker
    import docker.constants
    import docker.errors
    import requests.exceptions
    from docker.models.containers import Container
    from docker.types import LogConfig, Mount, Ulimit
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingDependencyError(
        "The Docker SDK for Python (docker)", "pip install 'runpad[docker]'"
    ) from exc

from runpad.home import runpad_home
from runpad.sandbox.docker.image import BUILD_COMMAND, DEFAULT_IMAGE, ImageInfo, image_info
from runpad.sandbox.environment import SandboxEnvironment
from runpad.sandbox.kernel.deno import (
    DENO_LANGUAGES,
    INSIDE_RELAY,
    RELAY_FILE,
    deno_env,
    deno_kernel_argv,
)
from runpad.sandbox.kernel.driver import (
    STARTUP_FILE,
    KernelDriver,
    KernelSandbox,
    connection_info,
    kernel_argv,
)
from runpad.sandbox.limits import Limits, MiB
from runpad.sandbox.local.seccomp import SECCOMP_RULES
from runpad.sandbox.results import FileInfo, Language
from runpad.sandbox.session_layout import (
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

__all__ = [
    "LABEL_OWNER_HOST",
    "LABEL_OWNER_PID",
    "LABEL_OWNER_STARTED",
    "LABEL_SESSION",
    "DockerSandbox",
    "docker_client",
    "remove_orphan_containers",
    "seccomp_profile",
]

logger = logging.getLogger(__name__)

LABEL_SESSION = "runpad.session"
"""Container label: the session id (also in the container's name, `runpad-<id>-<launch>`)."""
LABEL_OWNER_PID = "runpad.owner-pid"
"""Container label: the pid of the process that owns the container."""
LABEL_OWNER_STARTED = "runpad.owner-started"
"""Container label: when the owner started (clock ticks after boot), so a reused pid is no owner."""
LABEL_OWNER_HOST = "runpad.owner-host"
"""Container label: the host name of the owner; orphans are only judged on their own host."""

_ENGINE_HINT = (
    "Start the engine (`sudo systemctl start docker`, or run `dockerd` as root), or set "
    "DOCKER_HOST to the socket of a running one (e.g. DOCKER_HOST=unix:///run/docker.sock)."
)
_ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


@contextlib.contextmanager
def _engine_errors(doing: str) -> Iterator[None]:
    """Docker SDK errors as runpad's: the engine refused (start error) or went away."""
    try:
        yield
    except docker.errors.APIError as exc:
        raise SandboxStartError(f"Docker could not {doing}: {exc.explanation or exc}") from exc
    except _ENGINE_ERRORS as exc:
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise SandboxUnavailable(
            f"Lost the Docker engine at {where} while trying to {doing}: {exc}. {_ENGINE_HINT}"
        ) from exc


def docker_client(timeout: float = 60.0) -> docker.DockerClient:
    """A client for the engine that `DOCKER_HOST` names (default: the system socket).

    Raises:
        SandboxUnavailable: the engine does not answer; the message says how to start it.
    """
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    seconds = max(1, round(timeout))
    try:
        if where.startswith("unix://"):
            # The SDK leaks its socket when a unix socket refuses; ask first with our own.
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(timeout)
                probe.connect(where.removeprefix("unix://"))
        # With a fixed API version the SDK connects only when asked, so a failing request
        # leaves no half-made client behind; then talk in the version the engine speaks.
        with contextlib.closing(
            docker.from_env(version=docker.constants.MINIMUM_DOCKER_API_VERSION, timeout=seconds)
        ) as client:
            api_version = str(client.api.version(api_version=False)["ApiVersion"])
    except (OSError, *_ENGINE_ERRORS) as exc:
        raise SandboxUnavailable(
            f"Cannot reach the Docker engine at {where}: {exc}. {_ENGINE_HINT}"
        ) from exc
    return docker.from_env(version=api_version, timeout=seconds)


def remove_orphan_containers(client: docker.DockerClient | None = None) -> list[str]:
    """Remove runpad containers of this host whose owning process is gone; return their names.

    Example:
        ```python
        removed = remove_orphan_containers()
        print(f"removed {len(removed)} containers left by crashed runs")
        ```
    """
    own_client = client is None
    client = client or docker_client()
    removed = []
    try:
        host = socket.gethostname()
        for container in client.containers.list(all=True, filters={"label": LABEL_OWNER_PID}):
            labels = container.labels
            if labels.get(LABEL_OWNER_HOST) != host:
                continue
            try:
                pid = int(labels[LABEL_OWNER_PID])
            except (KeyError, ValueError):
                continue
            if _owner_alive(pid, labels.get(LABEL_OWNER_STARTED)):
                continue
            logger.info("removing container %s left by process %d", container.name, pid)
            try:
                container.remove(force=True, v=True)
            except docker.errors.APIError:  # gone meanwhile, or another process removes it
                logger.debug("could not remove %s", container.name, exc_info=True)
                continue
            removed.append(str(container.name))
    finally:
        if own_client:
            client.close()
    return removed


def _process_started(pid: int) -> str | None:
    """The start time of a process, from /proc (field 22 of stat); None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses; it ends at the last ")".
    return stat.rsplit(")", 1)[1].split()[19]


def _owner_alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return started is None or _process_started(pid) in (None, started)


class _ExitWatch:
    """Waits for the container to stop in a thread, so liveness checks need no API call."""

    def __init__(self, container: Container) -> None:
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._wait, args=(container,), name=f"runpad-wait-{container.name}", daemon=True
        )
        self._thread.start()

    def _wait(self, container: Container) -> None:
        try:
            container.wait(timeout=None)  # no request timeout: a kernel runs for hours
        except Exception:  # removed, or the engine went away: either way it is not running
            logger.debug("waiting for %s failed", container.name, exc_info=True)
        finally:
            self._stopped.set()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    async def wait(self, timeout: float) -> bool:
        return await asyncio.to_thread(self._stopped.wait, timeout)


class _KernelContainer:
    """One kernel's container of a session, and the watch on its exit."""

    def __init__(self, ipc_prefix: str) -> None:
        self.ipc_prefix = ipc_prefix  # its ipc dirs: `<session dir>/<prefix>-<launch>`
        self.container: Container | None = None
        self.watch: _ExitWatch | None = None

    def alive(self) -> bool:
        return self.watch is not None and not self.watch.stopped


class DockerSandbox(KernelSandbox):
    """An IPython kernel (and, for JavaScript cells, a Deno kernel) in hardened Docker
    containers.

    Args:
        limits: resource limits; see `Limits`. Memory, processes, CPU, /tmp and the work
            dir's size are enforced (the work dir's size where this process may mount).
        image: the sandbox image (default `runpad-sandbox:local`, built by
            `runpad sandbox docker-build`).
        client: a Docker client; default: one for the engine `DOCKER_HOST` names.
        sessions_dir: where session directories go (default: `<runpad home>/sessions`).
        api_timeout: seconds each Docker API request may take.

    Example:
        ```python
        async with DockerSandbox(Limits(memory_mb=1024)) as sandbox:
            execution = await sandbox.run("import numpy as np; np.arange(3).sum()")
            print(execution.text)  # 3
        ```
    """

    backend = "docker"
    languages: ClassVar[tuple[Language, ...]] = ("python", "shell", *DENO_LANGUAGES)

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        image: str = DEFAULT_IMAGE,
        client: docker.DockerClient | None = None,
        sessions_dir: Path | None = None,
        api_timeout: float = 60.0,
    ) -> None:
        super().__init__(limits)
        self.image = image
        self.session_id = secrets.token_hex(6)
        self._client = client
        self._own_client = client is None
        self._api_timeout = api_timeout
        self._sessions_dir = sessions_dir or runpad_home() / "sessions"
        self._session_dir: Path | None = None
        self._image: ImageInfo | None = None
        self._python = _KernelContainer("ipc")
        self._deno_kernel = _KernelContainer("deno-ipc")
        self._removals: set[asyncio.Task[None]] = set()
        self._work_mounted = False

    @property
    def container(self) -> Container:
        """The Python kernel's container."""
        if self._python.container is None:
            raise SandboxStartError("The sandbox is not started.")
        return self._python.container

    @property
    def deno_container(self) -> Container:
        """The Deno kernel's container, once a JavaScript or TypeScript cell started it."""
        if self._deno_kernel.container is None:
            raise SandboxStartError("The session's Deno kernel is not running.")
        return self._deno_kernel.container

    @property
    def disk_limited(self) -> bool:
        """Whether the work dir is a size-limited tmpfs (else only a per-file limit holds)."""
        return self._work_mounted

    # -- lifecycle --------------------------------------------------------------------------------

    async def _start(self) -> None:
        try:
            if self._client is None:
                self._client = await asyncio.to_thread(docker_client, self._api_timeout)
            with _engine_errors("find the sandbox image"):
                self._image = await asyncio.to_thread(self._image_info, self._client)
                await asyncio.to_thread(remove_orphan_containers, self._client)
            await asyncio.to_thread(sweep_orphan_sessions, self._sessions_dir)
            await asyncio.to_thread(self._create_session_dir)
            self._driver = await self._launch_kernel()
        except BaseException:
            await self._cleanup()
            raise

    def _image_info(self, client: docker.DockerClient) -> ImageInfo:
        try:
            image = client.images.get(self.image)
        except docker.errors.ImageNotFound as exc:
            raise SandboxUnavailable(
                f"The Docker image {self.image!r} is not there. Build it from this machine's "
                f"sandbox environment with `{BUILD_COMMAND}` (no registry needed), or from "
                f"docker/Dockerfile with `docker build -t {self.image} -f docker/Dockerfile .`"
            ) from exc
        return image_info(image)

    def _create_session_dir(self) -> None:
        # ipc socket paths must stay under 108 bytes: the session dir's path is short.
        session_dir = self._sessions_dir / self.session_id
        (session_dir / "work").mkdir(parents=True, exist_ok=True)
        (session_dir / "owner").write_text(str(os.getpid()))  # for sweep_orphan_sessions
        # No resolver, rather than the host's: the engine would mount its own resolv.conf.
        (session_dir / "resolv.conf").write_text("# no network in the sandbox\n")
        self._session_dir = session_dir
        if os.geteuid() == 0:
            self._work_mounted = Mounts().mount_tmpfs(session_dir / "work", self.limits.disk_mb)
        _hand_over(session_dir / "work")
        self._workdir = WorkDir(session_dir / "work")

    async def _launch_kernel(self) -> KernelDriver:
        assert self._image is not None
        return await self._launch_container(self._python, _container_command(self._image))

    async def _launch_deno_kernel(self) -> KernelDriver:
        image = self._image
        assert image is not None
        if image.deno is None:
            raise DenoUnavailable(
                f"The Docker image {self.image!r} has no Deno, so JavaScript and TypeScript "
                f"cells cannot run. Build it again with `{BUILD_COMMAND}` (after `runpad "
                "sandbox setup`), or from docker/Dockerfile."
            )
        environment = SandboxEnvironment(Path(image.environment_path))
        return await self._launch_container(
            self._deno_kernel,
            deno_kernel_argv(image.python, image.deno, f"{INSIDE_IPC}/kernel.json"),
            extra_env=deno_env(environment.deno_dir, self.limits),
            # The image may carry a copy too, but this runpad's own may be newer.
            extra_mounts={INSIDE_RELAY: RELAY_FILE},
        )

    async def _launch_container(
        self,
        kernel: _KernelContainer,
        command: list[str],
        *,
        extra_env: Mapping[str, str] | None = None,
        extra_mounts: Mapping[str, Path] | None = None,
    ) -> KernelDriver:
        """A new container for each kernel, with an ipc dir the kernels before never saw.

        The sandbox user writes in its ipc dir (the kernel makes its sockets there), and the
        driver connects once, to the first sockets it finds; so, as in `local`, nothing a
        dead kernel left or planted there can redirect the host.
        """
        assert self._session_dir is not None
        assert self._client is not None
        launch = secrets.token_hex(4)
        ipc = self._session_dir / f"{kernel.ipc_prefix}-{launch}"
        info = connection_info(f"{INSIDE_IPC}/k")
        await asyncio.to_thread(_prepare_ipc_dir, ipc, info)
        with _engine_errors("create the sandbox container"):
            container = await asyncio.to_thread(
                self._create_container,
                self._client,
                ipc,
                f"runpad-{self.session_id}-{launch}",
                command,
                dict(extra_env or {}),
                dict(extra_mounts or {}),
            )
        kernel.container = container
        with _engine_errors("start the sandbox container"):
            await asyncio.to_thread(container.start)
        kernel.watch = _ExitWatch(container)
        driver = KernelDriver({**info, "ip": str(ipc / "k")}, kernel.alive)
        try:
            await driver.connect(self.limits.start_timeout)
        except BaseException as exc:
            driver.close()
            log = await asyncio.to_thread(_log_tail, container)
            await self._stop_container(kernel)
            if isinstance(exc, SandboxStartError):
                raise SandboxStartError(f"{exc}\nContainer log:\n{log}") from exc
            raise
        return driver

    def _create_container(
        self,
        client: docker.DockerClient,
        ipc: Path,
        name: str,
        command: list[str],
        extra_env: dict[str, str],
        extra_mounts: dict[str, Path],
    ) -> Container:
        assert self._session_dir is not None
        assert self._image is not None
        limits, image = self.limits, self._image
        tmpfs_options = f"size={limits.tmp_mb}m,exec,nosuid,nodev"
        ulimits = [
            Ulimit(name="nofile", soft=4096, hard=4096),
            Ulimit(name="fsize", soft=limits.disk_mb * MiB, hard=limits.disk_mb * MiB),
        ]
        if limits.cpu_seconds is not None:
            ulimits.append(Ulimit(name="cpu", soft=limits.cpu_seconds, hard=limits.cpu_seconds))

        def bind(source: Path, target: str, *, read_only: bool = False) -> Mount:
            return Mount(target, str(source), type="bind", read_only=read_only)

        environment = SandboxEnvironment(Path(image.environment_path))
        return client.containers.create(
            image.image_id,
            command=command,
            name=name,
            hostname="sandbox",
            labels={
                LABEL_SESSION: self.session_id,
                LABEL_OWNER_PID: str(os.getpid()),
                LABEL_OWNER_STARTED: _process_started(os.getpid()) or "",
                LABEL_OWNER_HOST: socket.gethostname(),
            },
            environment={**sandbox_env(environment, limits), **extra_env},
            user=f"{SANDBOX_UID}:{SANDBOX_UID}",
            working_dir=INSIDE_WORK,
            network_mode="none",
            read_only=True,
            tmpfs={
                "/tmp": f"{tmpfs_options},mode=1777",
                INSIDE_HOME: f"{tmpfs_options},mode=0700,uid={SANDBOX_UID},gid={SANDBOX_UID}",
            },
            shm_size=limits.tmp_mb * MiB,
            mounts=[
                bind(self._session_dir / "work", INSIDE_WORK),
                bind(ipc, INSIDE_IPC),
                # The host wrote it; a mount cannot be swapped for a link to a host file.
                bind(ipc / "kernel.json", f"{INSIDE_IPC}/kernel.json", read_only=True),
                bind(self._session_dir / "resolv.conf", "/etc/resolv.conf", read_only=True),
                # The image has a copy too, but this runpad's own may be newer.
                bind(STARTUP_FILE, INSIDE_STARTUP, read_only=True),
                *(bind(host, inside, read_only=True) for inside, host in extra_mounts.items()),
            ],
            mem_limit=limits.memory_mb * MiB,
            memswap_limit=limits.memory_mb * MiB,  # equal: no swap on top
            pids_limit=limits.processes,
            nano_cpus=round(limits.cpus * 1e9),
            ulimits=ulimits,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges", f"seccomp={seccomp_profile()}"],
            # The engine turns IPv6 off in a container; loopback behaves as in `local` with it.
            sysctls={"net.ipv6.conf.all.disable_ipv6": "0", "net.ipv6.conf.lo.disable_ipv6": "0"},
            ipc_mode="private",
            # The kernel's own stdout and stderr go to the engine's log on the host's disk,
            # past the work dir's limit: a cell can write to them, so the log is a small ring.
            log_config=LogConfig(
                type="json-file",
                config={"max-size": f"{max(1, limits.kernel_log_bytes // 1024)}k", "max-file": "1"},
            ),
            init=True,  # reaps the orphans of shell commands, which would count as processes
            detach=True,
        )

    def _kernel_alive(self) -> bool:
        return self._python.alive()

    def _deno_kernel_alive(self) -> bool:
        return self._deno_kernel.alive()

    def _death_reason(self) -> str:
        return self._container_death_reason(self._python)

    def _deno_death_reason(self) -> str:
        return self._container_death_reason(self._deno_kernel)

    def _container_death_reason(self, kernel: _KernelContainer) -> str:
        container = kernel.container
        if container is None:
            return "its container is gone"
        try:
            container.reload()
            state: dict[str, Any] = container.attrs.get("State", {})
        except _ENGINE_ERRORS:
            return "its container is gone"
        if state.get("OOMKilled"):
            return (
                f"it ran out of memory (the session may use {self.limits.memory_mb} MB; "
                "raise Limits.memory_mb or use less memory)"
            )
        if kernel is self._deno_kernel and "out of memory" in _log_tail(container):
            return (  # V8 gave up at its heap limit (`deno_env`) before the container's
                "it ran out of memory (JavaScript's heap may use 3/4 of the session's "
                f"{self.limits.memory_mb} MB; raise Limits.memory_mb or use less memory)"
            )
        code = state.get("ExitCode")
        if isinstance(code, int) and code > 128:
            return f"it was killed by signal {code - 128}"
        return f"it exited with status {code}"

    async def _stop_kernel(self) -> None:
        await self._stop_container(self._python)

    async def _stop_deno_kernel(self) -> None:
        await self._stop_container(self._deno_kernel)

    def _npm_versions(self) -> Mapping[str, Sequence[str]] | None:
        return self._image.npm_versions if self._image is not None else None

    async def _stop_container(self, kernel: _KernelContainer) -> None:
        """Kill a kernel's container and drop its ipc dirs; the container goes meanwhile."""
        container, kernel.container = kernel.container, None
        watch, kernel.watch = kernel.watch, None
        if container is not None and watch is not None and not watch.stopped:
            with _engine_errors("stop the kernel"), contextlib.suppress(docker.errors.APIError):
                await asyncio.to_thread(container.kill)  # APIError: it stopped meanwhile
        if watch is not None and not await watch.wait(self._api_timeout):
            logger.warning("container %s did not stop", container.name if container else "?")
        if container is not None:  # removing takes a while: a restart need not wait for it
            self._removals.add(asyncio.create_task(asyncio.to_thread(_remove_container, container)))
        if self._session_dir is not None:
            await asyncio.to_thread(_remove_ipc_dirs, self._session_dir, kernel.ipc_prefix)

    async def _close(self) -> None:
        try:
            await super()._close()
        finally:
            await self._cleanup()

    async def _cleanup(self) -> None:
        await self._stop_deno_kernel()
        await self._stop_kernel()
        await asyncio.gather(*self._removals)
        self._removals.clear()
        if self._session_dir is not None:
            await asyncio.to_thread(remove_session_dir, self._session_dir)
            self._session_dir = None
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None

    # -- files ------------------------------------------------------------------------------------

    async def _upload(self, data: bytes, dest: str) -> FileInfo:
        info = await super()._upload(data, dest)
        # Written by this process: hand the file (and directories made for it) to the sandbox
        # user, as the local backend's user namespace does, so cells may change it.
        await asyncio.to_thread(_hand_over_path, self.workdir.root, info.name)
        await self._remember_upload(info.name)  # handing over changed its ctime
        return info


@cache
def seccomp_profile() -> str:
    """The local backend's seccomp filter (`runpad.sandbox.local.seccomp`) as a Docker profile.

    It replaces the engine's default profile, so that both backends deny the same calls:
    the engine's lets ptrace and io_uring through, for one.
    """
    operators = {
        "eq": "SCMP_CMP_EQ",
        "ne": "SCMP_CMP_NE",
        "gt": "SCMP_CMP_GT",
        "masked_eq": "SCMP_CMP_MASKED_EQ",
    }
    rules = [
        {
            "names": [rule.syscall],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": rule.errno,
            "args": [
                # Docker, like libseccomp, takes the mask first for MASKED_EQ
                {"index": c.index, "value": c.mask, "valueTwo": c.value, "op": operators[c.op]}
                if c.op == "masked_eq"
                else {"index": c.index, "value": c.value, "valueTwo": 0, "op": operators[c.op]}
                for c in rule.conditions
            ],
        }
        for rule in SECCOMP_RULES
    ]
    return json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})


def _log_tail(container: Container) -> str:
    """The end of what a kernel's container wrote to its own stdout and stderr."""
    try:
        return container.logs(tail=40).decode(errors="replace") or "(empty)"
    except _ENGINE_ERRORS as exc:
        return f"(unavailable: {exc})"


def _remove_ipc_dirs(session_dir: Path, prefix: str) -> None:
    """Drop a kernel's ipc dirs (`prefix-*`) from the session dir."""
    for ipc in session_dir.glob(f"{prefix}-*"):
        remove_ipc_dir(ipc)


def _remove_container(container: Container) -> None:
    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    except _ENGINE_ERRORS:  # the next session's orphan sweep removes it
        logger.warning("could not remove container %s", container.name, exc_info=True)


def _container_command(info: ImageInfo) -> list[str]:
    """Start the kernel; first seed matplotlib's font cache into the fresh home (tmpfs)."""
    argv = kernel_argv(info.python, f"{INSIDE_IPC}/kernel.json", INSIDE_STARTUP)
    script = (
        'if [ -n "$0" ]; then mkdir -p "$MPLCONFIGDIR" && cp "$0"/fontlist-*.json '
        '"$MPLCONFIGDIR/" || true; fi; exec "$@"'
    )
    return ["/bin/sh", "-c", script, info.font_cache or "", *argv]


def _prepare_ipc_dir(ipc: Path, info: dict[str, Any]) -> None:
    """The kernel's socket dir (a tiny tmpfs where the host may mount), the sandbox user's,
    with the connection file in it (mounted read-only over itself in the container)."""
    make_ipc_dir(ipc)
    _hand_over(ipc)
    (ipc / "kernel.json").write_text(json.dumps(info))


def _hand_over(path: Path) -> None:
    """Make a directory of the session dir writable for the sandbox user."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        _give(fd, is_dir=True)
    finally:
        os.close(fd)


def _hand_over_path(root: Path, name: str) -> None:
    """Hand `name` and its directories below `root` to the sandbox user, never via a link.

    Code in the container owns the work dir and may swap a directory for a symlink at any
    moment, so every component is opened relative to its parent with O_NOFOLLOW and changed
    through its descriptor.
    """
    parts = Path(name).parts
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for index, part in enumerate(parts):
            is_dir = index < len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_DIRECTORY if is_dir else 0)
            next_fd = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = next_fd
            if os.fstat(fd).st_uid == os.geteuid():  # ours, not already the sandbox user's
                _give(fd, is_dir=is_dir)
    finally:
        os.close(fd)


def _give(fd: int, *, is_dir: bool) -> None:
    if os.geteuid() == 0:
        os.fchown(fd, SANDBOX_UID, SANDBOX_UID)
    elif os.geteuid() != SANDBOX_UID:  # without root, open it to everyone instead
        os.fchmod(fd, 0o777 if is_dir else 0o666)
