"""Whether a work dir may have changed, asked without touching the file system (inotify).

Most cells write nothing, and finding that out by walking the work dir costs a trip to a
worker thread (LangGraph's server refuses file calls on the event loop) on every cell. An
inotify watch on each of the work dir's directories answers instead: the kernel queues an
event whenever anything in them is created, written, moved, deleted or has its times or
mode changed, by whichever process and from whichever mount namespace (bubblewrap and
Docker bind mounts see the same inodes), and reading that queue is one non-blocking
`read` on a descriptor.

The answer is used one way only: no event since the last look means the last snapshot of
the work dir still holds. Any event means "walk it again" (the full scan, which also adds
watches for new directories); an event that does not change a file (a directory's mode, a
file opened for writing and closed unwritten) costs that walk, never a wrong answer. A
watch that could not be set on every directory (the per-user inotify limits, a walk that
stopped at its time limit) is not trusted, and the session falls back to walking.

What inotify does not see: writes through a memory map (`mmap`, `numpy.memmap`) to a file
opened in an earlier cell report no event (Linux only notes them in the file's times), so
such a change shows up at the next cell that changes anything else.
"""

from __future__ import annotations

import contextlib

from inotify_simple import INotify
from inotify_simple import flags as events

__all__ = ["WorkDirWatch"]

_MASK = (
    events.MODIFY
    | events.ATTRIB
    | events.CLOSE_WRITE
    | events.MOVED_FROM
    | events.MOVED_TO
    | events.CREATE
    | events.DELETE
    | events.DELETE_SELF
    | events.MOVE_SELF
    | events.ONLYDIR
)

MAX_WATCHED_DIRECTORIES = 4096
"""Directories one session may watch; a work dir with more is walked instead (the user's
inotify watches are shared by every process of theirs)."""


class WorkDirWatch:
    """inotify watches on a work dir's directories, each added by an open descriptor."""

    def __init__(self, inotify: INotify) -> None:
        self._inotify = inotify
        self._watched: set[int] = set()  # live watch descriptors, one per directory
        self.reliable = True
        """False once a directory could not be watched: then `changed()` is always True."""

    @classmethod
    def open(cls) -> WorkDirWatch | None:
        """A new watch with no directory yet, or None where inotify is not available (not
        Linux, or the user's inotify instances are used up)."""
        try:
            return cls(INotify(nonblocking=True))
        except (OSError, AttributeError):  # AttributeError: a libc without inotify
            return None

    def add(self, directory_fd: int) -> None:
        """Watch the directory open as `directory_fd` (opened without following links by
        the walk, so the watch is on that very directory, never on a link's target)."""
        if not self.reliable:
            return
        try:
            # The same directory again gives the same descriptor.
            self._watched.add(self._inotify.add_watch(f"/proc/self/fd/{directory_fd}", _MASK))
        except OSError:  # the per-user watch limit, or the directory went meanwhile
            self.reliable = False
        if len(self._watched) > MAX_WATCHED_DIRECTORIES:
            self.reliable = False

    def changed(self) -> bool:
        """Whether anything may have changed since the last call; reads the queued events
        without waiting (no file system call, safe on the event loop)."""
        if not self.reliable:
            return True
        queued = self._inotify.read(timeout=0)
        # A removed directory's watch ends with an IGNORED event.
        self._watched.difference_update(e.wd for e in queued if e.mask & events.IGNORED)
        return bool(queued)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._inotify.close()
