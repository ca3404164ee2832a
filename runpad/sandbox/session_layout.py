"""What every kernel backend on this machine shares about a sandbox session.

The paths and the user inside the sandbox, the host files a sandboxed program may see, its
environment, and the session's directories on the host (the work dir and the ipc dir as
size-limited tmpfs mounts, and the sweep of sessions whose process died). The local
(bubblewrap) backend, the docker backend, its image builder and `runpad sandbox check` all
build on these names; nothing here starts a process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
from pathlib import Path

from runpad.sandbox.environment import SandboxEnvironment
from runpad.sandbox.limits import Limits

__all__ = [
    "ETC_ENTRIES",
    "INSIDE_HOME",
    "INSIDE_IPC",
    "INSIDE_STARTUP",
    "INSIDE_WORK",
    "IPC_DIR_MB",
    "SANDBOX_UID",
    "Mounts",
    "make_ipc_dir",
    "pid_alive",
    "remove_ipc_dir",
    "remove_session_dir",
    "sandbox_env",
    "sweep_orphan_sessions",
]

logger = logging.getLogger(__name__)

SANDBOX_UID = 1000
INSIDE_HOME = "/home/sandbox"
INSIDE_WORK = "/work"
INSIDE_IPC = "/run/runpad"
INSIDE_STARTUP = "/opt/runpad/kernel_startup.py"

# What of the host's /etc a program needs (dynamic linker, certificates, fonts, time
# zones, MIME types); never the whole /etc: shadow, ssh keys and the like stay out.
ETC_ENTRIES = (
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "fonts",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "ssl",
    "timezone",
    "debian_version",
    "bash.bashrc",
    "profile",
    "inputrc",
    "magic",
    "gai.conf",
    "protocols",
    "services",
)


def sandbox_env(environment: SandboxEnvironment, limits: Limits) -> dict[str, str]:
    """The whole environment of the sandboxed process; nothing comes from the host."""
    threads = str(max(1, int(limits.cpus)))
    return {
        "HOME": INSIDE_HOME,
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "PATH": f"{environment.path}/bin:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "VIRTUAL_ENV": str(environment.path),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MPLCONFIGDIR": f"{INSIDE_HOME}/.config/matplotlib",
        "IPYTHONDIR": f"{INSIDE_HOME}/.ipython",
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "OPENBLAS_NUM_THREADS": threads,
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }


class Mounts:
    """mount(2) and umount2(2): a work dir or ipc dir of a hard size, without a helper process."""

    MNT_DETACH = 2
    # Files the sandbox makes are root's on the host: no set-user-ID bits, no device nodes.
    MS_NOSUID = 2
    MS_NODEV = 4

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

    def mount_tmpfs(self, target: Path, size_mb: int) -> bool:
        options = f"size={size_mb}m,mode=0755".encode()
        flags = self.MS_NOSUID | self.MS_NODEV
        result = self._libc.mount(b"runpad", str(target).encode(), b"tmpfs", flags, options)
        return bool(result == 0)

    def unmount(self, target: Path) -> None:
        self._libc.umount2(str(target).encode(), self.MNT_DETACH)


IPC_DIR_MB = 1
"""Size of the ipc dir's tmpfs: sockets take no space, so anything written there is abuse."""


def make_ipc_dir(path: Path) -> None:
    path.mkdir()  # never an existing one: see SandboxLayout
    if os.geteuid() == 0:
        Mounts().mount_tmpfs(path, IPC_DIR_MB)


def remove_ipc_dir(path: Path) -> None:
    if os.path.ismount(path):
        Mounts().unmount(path)
    shutil.rmtree(path, ignore_errors=True)  # rmtree never follows links


def remove_session_dir(session_dir: Path) -> None:
    for directory in [session_dir / "work", *session_dir.glob("ipc*")]:
        if os.path.ismount(directory):
            Mounts().unmount(directory)
    shutil.rmtree(session_dir, ignore_errors=True)


def sweep_orphan_sessions(sessions_dir: Path) -> None:
    """Remove session dirs (and their mounts) left by processes that died without closing
    their sessions."""
    if not sessions_dir.is_dir():
        return
    for session_dir in sessions_dir.iterdir():
        try:
            owner = int((session_dir / "owner").read_text())
        except (OSError, ValueError):
            continue
        if owner == os.getpid() or pid_alive(owner):
            continue
        logger.info("removing orphaned sandbox session %s", session_dir)
        remove_session_dir(session_dir)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
