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
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from runpad.errors import SandboxFileError
from runpad.sandbox.results import Artifact, FileInfo

__all__ = ["RUNPAD_DIR", "Snapshot", "WorkDir"]

RUNPAD_DIR = ".runpad"
"""Sub-directory of the work dir where runpad itself writes (spilled outputs)."""

Snapshot = dict[str, tuple[int, int]]
"""Relative path -> (size, mtime_ns) of every regular file."""


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

    def snapshot(self) -> Snapshot:
        """Size and mtime of every regular file, to find what a cell changed."""
        state: Snapshot = {}
        for dirpath, _dirnames, filenames in os.walk(self.root):
            for filename in filenames:
                path = Path(dirpath, filename)
                try:
                    stat = path.lstat()
                except FileNotFoundError:  # removed while we walked
                    continue
                if path.is_file() and not path.is_symlink():
                    state[self._relative(path)] = (stat.st_size, stat.st_mtime_ns)
        return state

    def changed_since(self, before: Snapshot) -> list[Artifact]:
        """Artifacts for the files created or modified since `before` was taken."""
        artifacts = []
        for name, signature in sorted(self.snapshot().items()):
            if before.get(name) == signature:
                continue
            try:
                artifacts.append(self.describe(name))
            except (OSError, SandboxFileError):  # removed or replaced by a link meanwhile
                continue
        return artifacts

    def describe(self, name: str) -> Artifact:
        path = self.resolve(name)
        digest = hashlib.sha256()
        size = 0
        with self._open_beneath(path, os.O_RDONLY) as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
                size += len(block)
        mime_type, _ = mimetypes.guess_type(path.name)
        return Artifact(
            name=name,
            size=size,
            mime_type=mime_type or "application/octet-stream",
            sha256=digest.hexdigest(),
        )

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()
