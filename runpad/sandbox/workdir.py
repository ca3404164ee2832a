"""A session's work dir seen from the host: safe paths, file operations, change detection.

Backends whose work dir is a directory on this machine (local, unsafe-local, docker with a
bind mount) share this class, so they agree on what an artifact is.
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from runpad.errors import SandboxFileError
from runpad.sandbox.limits import Limits
from runpad.sandbox.results import Artifact, FileInfo

__all__ = [
    "QUICK_WALK_FILES",
    "QUICK_WALK_SECONDS",
    "RUNPAD_DIR",
    "FileChanges",
    "Signature",
    "Snapshot",
    "WorkDir",
]

RUNPAD_DIR = ".runpad"
"""Sub-directory of the work dir where runpad itself writes (spilled outputs)."""

Signature = tuple[int, int, int]
"""(size, mtime_ns, ctime_ns) of a regular file: it changed when this did."""

Snapshot = dict[str, Signature]
"""Relative path -> signature of every regular file."""


@dataclass(frozen=True)
class FileChanges:
    """What a cell changed in the work dir, as `WorkDir.changed_since` found it.

    Attributes:
        artifacts: the changed files listed (at most `Limits.max_artifacts`).
        omitted: changed files not listed.
        complete: False when the walk stopped at its time limit.
        snapshot: the work dir now, for the next cell to compare with.
    """

    artifacts: list[Artifact]
    omitted: int
    complete: bool
    snapshot: Snapshot


@dataclass(frozen=True)
class WorkDir:
    """The host side of a session's writable directory.

    Code in the sandbox owns this directory and may plant symlinks in it, or swap a
    directory for a symlink while the host reads. So the host opens every path one
    component at a time with O_NOFOLLOW: a link anywhere on the way is refused, never
    followed to a host file.
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", self.root.resolve())

    def resolve(self, name: str) -> Path:
        """Map a path given by a caller to a host path, refusing anything outside the root."""
        if not name or "\x00" in name:
            raise SandboxFileError(f"Invalid path {name!r}: give a path relative to the work dir.")
        # /work is where the code sees its work dir, so its paths name the same files.
        inside = name == "/work" or name.startswith("/work/")
        relative = (name.removeprefix("/work").lstrip("/") or ".") if inside else name
        candidate = (self.root / relative).resolve()
        root = self.root.resolve()
        if candidate != root and root not in candidate.parents:
            raise SandboxFileError(
                f"Path {name!r} is outside the sandbox work dir; use a relative path such as "
                "'data/input.csv'."
            )
        return candidate

    def write(self, name: str, data: bytes) -> FileInfo:
        path = self.resolve(name)
        try:
            with self._open_beneath(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC) as handle:
                handle.write(data)
        except OSError as exc:  # a full work dir, a directory or a link in the way
            raise SandboxFileError(f"Could not write {name!r} into the work dir: {exc}") from exc
        return FileInfo(name=self._relative(path), size=len(data), is_dir=False)

    def open_for_write(self, name: str) -> BinaryIO:
        """Create (or truncate) a file for the host to write, never through a link."""
        return self._open_beneath(self.resolve(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)

    def read(self, name: str) -> bytes:
        try:
            with self._open_beneath(self.resolve(name), os.O_RDONLY) as handle:
                return handle.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise SandboxFileError(f"No file {name!r} in the sandbox work dir.") from exc
        except OSError as exc:
            raise SandboxFileError(f"Could not read {name!r} from the work dir: {exc}") from exc

    def _open_beneath(self, path: Path, flags: int) -> BinaryIO:
        """Open `path` (inside the root) without following any symlink on the way."""
        parts = path.relative_to(self.root).parts
        if not parts:
            raise IsADirectoryError(str(path))
        creating = bool(flags & os.O_CREAT)
        dir_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for part in parts[:-1]:
                if creating:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, dir_fd=dir_fd)
                next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
                os.close(dir_fd)
                dir_fd = next_fd
            fd = os.open(parts[-1], flags | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise IsADirectoryError(str(path))
        return os.fdopen(fd, "wb" if flags & os.O_WRONLY else "rb")

    def list_files(self, name: str = ".") -> list[FileInfo]:
        base = self.resolve(name)
        if not base.is_dir():
            raise SandboxFileError(f"No directory {name!r} in the sandbox work dir.")
        entries = []
        for dirpath, dirnames, filenames in os.walk(base):
            for entry in dirnames + filenames:
                path = Path(dirpath, entry)
                is_dir = path.is_dir() and not path.is_symlink()
                size = 0 if is_dir else path.lstat().st_size
                entries.append(FileInfo(name=self._relative(path), size=size, is_dir=is_dir))
        return sorted(entries, key=lambda info: info.name)

    def write_spill(self, name: str, data: bytes) -> bool:
        """Write a file of runpad's own (a spilled result); False when it cannot."""
        try:
            with self.open_for_write(name) as handle:
                handle.write(data)
        except (OSError, SandboxFileError):  # a full work dir, or a link planted in the way
            return False
        return True

    def signature(self, name: str) -> Signature | None:
        """The snapshot entry of one regular file, or None when it is not one."""
        try:
            info = os.lstat(self.resolve(name))
        except (OSError, SandboxFileError):
            return None
        return _signature(info) if stat.S_ISREG(info.st_mode) else None

    def snapshot(
        self, deadline: float | None = None, on_directory: Callable[[int], None] | None = None
    ) -> tuple[Snapshot, bool]:
        """Size and times of every regular file, and whether the walk saw them all.

        One `lstat` per file, no path resolution: the walk descends through directory
        descriptors opened with O_NOFOLLOW, so a directory swapped for a link meanwhile is
        never followed out of the work dir. Past `deadline` (time.monotonic) it stops.
        `on_directory` is called with each directory's open descriptor (for a watch).
        """
        state: Snapshot = {}
        root = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        # (prefix, open directory, its subdirectories still to visit): one fd per level.
        stack: list[tuple[str, int, list[str]]] = [("", root, [])]
        complete = True
        try:
            if on_directory is not None:
                on_directory(root)
            subdirs, complete = _scan(root, "", state, deadline)
            stack[0][2].extend(subdirs)
            while stack and complete:
                prefix, fd, pending = stack[-1]
                if not pending:
                    os.close(fd)
                    stack.pop()
                    continue
                name = pending.pop()
                try:
                    child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except OSError:  # removed or replaced meanwhile, or too deep for our fds
                    continue
                try:
                    if on_directory is not None:
                        on_directory(child)
                    subdirs, complete = _scan(child, f"{prefix}{name}/", state, deadline)
                except OSError:  # removed meanwhile
                    os.close(child)
                    continue
                except BaseException:
                    os.close(child)
                    raise
                stack.append((f"{prefix}{name}/", child, subdirs))
        finally:
            for _, fd, _ in stack:
                os.close(fd)
        return state, complete

    def changed_since(
        self,
        before: Snapshot,
        limits: Limits,
        on_directory: Callable[[int], None] | None = None,
    ) -> FileChanges:
        """The files created or modified since `before`, within the limits on artifacts.

        At most `limits.max_artifacts` are listed (runpad's spill files first, then by
        name); the host reads at most `limits.hash_bytes` to hash them, never a sparse
        file, and stops looking after `limits.artifact_seconds`. `on_directory`: as for
        `snapshot`.
        """
        deadline = time.monotonic() + limits.artifact_seconds
        after, complete = self.snapshot(deadline, on_directory)
        if not complete:  # what the walk did not reach is taken as unchanged
            after = {**before, **after}
        changed = [name for name, signature in after.items() if before.get(name) != signature]
        changed.sort(key=lambda name: (not name.startswith(f"{RUNPAD_DIR}/"), name))
        listed = changed[: limits.max_artifacts]
        hash_room = limits.hash_bytes
        artifacts = []
        for name in listed:
            room = hash_room if time.monotonic() < deadline else 0
            try:
                artifact, read = self._describe(name, room, deadline)
            except (OSError, SandboxFileError):  # removed or replaced by a link meanwhile
                continue
            hash_room -= read
            artifacts.append(artifact)
        return FileChanges(
            artifacts=artifacts,
            omitted=len(changed) - len(listed),
            complete=complete,
            snapshot=after,
        )

    def unchanged_since(self, before: Snapshot) -> bool:
        """True when a short walk finds every file exactly as in `before` (none created,
        modified or removed); False when something changed or the walk ran out of time.

        The common case after a cell that wrote nothing, settled without the full search.
        Only work dirs of at most `QUICK_WALK_FILES` files are tried, and the walk stops
        after `QUICK_WALK_SECONDS`; on False the caller runs `changed_since`, whose limits
        then apply in full. It touches the file system: call it off the event loop.
        """
        if len(before) > QUICK_WALK_FILES:
            return False
        after, complete = self.snapshot(time.monotonic() + QUICK_WALK_SECONDS)
        return complete and after == before

    def describe(self, name: str, max_bytes: int | None = None) -> Artifact:
        """The artifact of one file; hashed when it holds at most `max_bytes` (default: any)."""
        artifact, _ = self._describe(name, sys.maxsize if max_bytes is None else max_bytes, None)
        return artifact

    def _describe(self, name: str, max_bytes: int, deadline: float | None) -> tuple[Artifact, int]:
        """The artifact, and how many bytes were read to hash it."""
        path = self.resolve(name)
        mime_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with self._open_beneath(path, os.O_RDONLY) as handle:
            info = os.fstat(handle.fileno())
            # Holes read as zeros at the cost of real data: a sparse file of a terabyte
            # takes a few blocks of the work dir. Its allocated size decides, not its length.
            sparse = info.st_blocks * 512 + _SPARSE_SLACK < info.st_size
            if sparse or info.st_size > max_bytes:
                return Artifact(name, info.st_size, mime_type, sha256=""), 0
            digest = hashlib.sha256()
            size = 0
            while block := handle.read(1 << 20):
                digest.update(block)
                size += len(block)
                if size > max_bytes or (deadline is not None and time.monotonic() > deadline):
                    # still being written, or out of time: listed, not hashed
                    return Artifact(name, max(size, info.st_size), mime_type, sha256=""), size
        return Artifact(name, size, mime_type, sha256=digest.hexdigest()), size

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


QUICK_WALK_FILES = 256
"""Files a work dir may hold for `WorkDir.unchanged_since` to try its walk at all."""

QUICK_WALK_SECONDS = 0.002
"""How long `WorkDir.unchanged_since` may walk before it leaves the answer to a full scan."""

_SPARSE_SLACK = 64 * 1024
"""Bytes a file may be longer than its allocated blocks before it counts as sparse (file
systems that keep small files inline report no blocks for them)."""

_SCAN_CHECK_EVERY = 512
"""Entries between two looks at the clock while listing one directory."""


def _signature(info: os.stat_result) -> Signature:
    # ctime too: a cell can set a file's mtime back, never its ctime.
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _scan(fd: int, prefix: str, state: Snapshot, deadline: float | None) -> tuple[list[str], bool]:
    """Record the regular files of one open directory; return its subdirectories, and False
    when the deadline passed before the listing ended."""
    subdirs: list[str] = []
    with os.scandir(fd) as entries:
        for count, entry in enumerate(entries, 1):
            if count % _SCAN_CHECK_EVERY == 0 and _past(deadline):
                return subdirs, False
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.name)
                elif entry.is_file(follow_symlinks=False):
                    state[prefix + entry.name] = _signature(entry.stat(follow_symlinks=False))
            except OSError:  # removed while we listed
                continue
    return subdirs, not _past(deadline)


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() > deadline
