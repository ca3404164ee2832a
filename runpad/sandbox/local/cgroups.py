"""Per-session control groups: hard limits on memory, processes and CPU.

Works with cgroup v2 (one unified tree) and v1 (a tree per controller). Where the tree is
not writable (no root, a locked-down container) `create_session_cgroup` returns None and
the backend falls back to rlimits; `runpad sandbox check` reports which one is active.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from runpad.sandbox.limits import Limits
from runpad.sandbox.session_layout import pid_alive

__all__ = [
    "SessionCgroup",
    "cgroup_support",
    "create_session_cgroup",
    "sweep_orphan_cgroups",
]

logger = logging.getLogger(__name__)

_ROOT = Path("/sys/fs/cgroup")
_PARENT = "runpad"
_V1_CONTROLLERS = ("memory", "pids", "cpu")


@dataclass
class SessionCgroup:
    """One session's cgroup directories (one per v1 controller, or one v2 directory)."""

    directories: list[Path]
    controllers: set[str] = field(default_factory=set)

    @property
    def procs_files(self) -> list[Path]:
        return [directory / "cgroup.procs" for directory in self.directories]

    def memory_events(self) -> int:
        """How many processes the memory limit killed (`oom_kill` in v1 and v2)."""
        for directory in self.directories:
            # v1's memory.failcnt stays 0 when the memory+swap limit is the one hit.
            for name in ("memory.events", "memory.oom_control"):
                with contextlib.suppress(OSError, ValueError):
                    for line in (directory / name).read_text().splitlines():
                        if line.startswith("oom_kill "):
                            return int(line.split()[1])
        return 0

    def kill_all(self) -> None:
        """Kill every process left in the group (a daemon the code left behind, say)."""
        for _ in range(50):
            pids = self._pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def child(self, name: str) -> SessionCgroup:
        """A group inside this one for one kernel of the session, so that it can be killed
        alone; this group's limits hold for both together (the hierarchy charges a child's
        use to its parent, in v1 and v2)."""
        directories = [directory / name for directory in self.directories]
        for directory in directories:
            directory.mkdir(exist_ok=True)
        return SessionCgroup(directories, set(self.controllers))

    def remove(self) -> None:
        for directory in self.directories:  # a group with children can't be removed
            with contextlib.suppress(OSError):
                for child in directory.iterdir():
                    if child.is_dir():
                        SessionCgroup([child]).remove()
        self.kill_all()
        for directory in self.directories:
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # still has processes dying
                    time.sleep(0.01)

    def _pids(self) -> set[int]:
        pids: set[int] = set()
        for procs in self.procs_files:
            with contextlib.suppress(OSError):
                pids.update(int(line) for line in procs.read_text().split())
        return pids


def cgroup_support() -> tuple[str, set[str]]:
    """The cgroup version here ('v1', 'v2' or 'none') and the controllers we can write."""
    if (_ROOT / "cgroup.controllers").exists():
        parent = _ROOT / _PARENT
        try:
            parent.mkdir(exist_ok=True)
            _enable_v2_controllers(parent)
            available = set((parent / "cgroup.subtree_control").read_text().split())
        except OSError:
            return "none", set()
        return "v2", available & {"memory", "pids", "cpu"}
    writable = set()
    for controller in _V1_CONTROLLERS:
        parent = _ROOT / controller / _PARENT
        with contextlib.suppress(OSError):
            parent.mkdir(exist_ok=True)
            if os.access(parent, os.W_OK):
                writable.add(controller)
    return ("v1", writable) if writable else ("none", set())


def create_session_cgroup(name: str, limits: Limits) -> SessionCgroup | None:
    """Make the cgroup for one session with its limits set, or None where we can't."""
    version, controllers = cgroup_support()
    try:
        if version == "v2":
            directory = _ROOT / _PARENT / name
            directory.mkdir()
            group = SessionCgroup([directory], controllers)
            _write_v2_limits(directory, controllers, limits)
            return group
        if version == "v1":
            group = SessionCgroup([], set())
            for controller in sorted(controllers):
                directory = _ROOT / controller / _PARENT / name
                directory.mkdir()
                group.directories.append(directory)
                group.controllers.add(controller)
            _write_v1_limits(group, limits)
            return group
    except OSError as exc:
        logger.warning("could not create cgroup %s, falling back to rlimits: %s", name, exc)
    return None


def _enable_v2_controllers(parent: Path) -> None:
    wanted = {"memory", "pids", "cpu"} & set((_ROOT / "cgroup.controllers").read_text().split())
    for controller in wanted:
        for level in (_ROOT, parent):
            with contextlib.suppress(OSError):
                (level / "cgroup.subtree_control").write_text(f"+{controller}")


def _write_v2_limits(directory: Path, controllers: set[str], limits: Limits) -> None:
    if "memory" in controllers:
        (directory / "memory.max").write_text(str(limits.memory_mb * 1024 * 1024))
        with contextlib.suppress(OSError):
            (directory / "memory.swap.max").write_text("0")
    if "pids" in controllers:
        (directory / "pids.max").write_text(str(limits.processes))
    if "cpu" in controllers:
        period = 100_000
        (directory / "cpu.max").write_text(f"{int(limits.cpus * period)} {period}")


def _write_v1_limits(group: SessionCgroup, limits: Limits) -> None:
    for directory in group.directories:
        controller = directory.parent.parent.name
        if controller == "memory":
            memory = str(limits.memory_mb * 1024 * 1024)
            (directory / "memory.limit_in_bytes").write_text(memory)
            with contextlib.suppress(OSError):  # swap accounting may be off
                (directory / "memory.memsw.limit_in_bytes").write_text(memory)
        elif controller == "pids":
            (directory / "pids.max").write_text(str(limits.processes))
        elif controller == "cpu":
            period = 100_000
            (directory / "cpu.cfs_period_us").write_text(str(period))
            (directory / "cpu.cfs_quota_us").write_text(str(int(limits.cpus * period)))


def sweep_orphan_cgroups() -> None:
    """Remove session cgroups (named `<owner pid>-<session>`) whose owner process is gone."""
    parents = [_ROOT / _PARENT, *(_ROOT / c / _PARENT for c in _V1_CONTROLLERS)]
    for parent in parents:
        if not parent.is_dir():
            continue
        for directory in parent.iterdir():
            owner, _, session = directory.name.partition("-")
            if not (directory.is_dir() and owner.isdigit() and session):
                continue
            if pid_alive(int(owner)):
                continue
            SessionCgroup([directory]).remove()
