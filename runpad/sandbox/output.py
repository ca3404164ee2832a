"""Bounded capture of a cell's stdout or stderr, and of the kernel process's own output.

A cell may print hundreds of megabytes. The capture keeps the head and the tail in memory
(what the model reads), and writes the whole stream, up to `spill_bytes`, to a spill file
in the work dir so that nothing is silently lost and later cells can read it.

The kernel process's stdout and stderr (start-up errors, crashes, anything written to the
descriptors it inherited) go to a pipe that `KernelLog` drains, never to a file on the
host's disk, where the work dir's size limit would not hold.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import BinaryIO

from runpad.text import omission_marker

__all__ = ["KernelLog", "StreamCapture"]

_SPILL_CUT = "\n[... runpad stopped writing this spill file at its size limit ...]\n"


class StreamCapture:
    """Collects one stream: all of it while it fits in `keep`, head and tail beyond that."""

    def __init__(
        self,
        keep: int,
        *,
        spill_name: str | None = None,
        open_spill: Callable[[], BinaryIO] | None = None,
        spill_limit: int = 0,
    ) -> None:
        self._head_limit = keep // 2
        self._tail_limit = keep - self._head_limit
        self._head: list[str] = []
        self._head_size = 0
        self._tail: deque[str] = deque()
        self._tail_size = 0
        self._total = 0
        self._spill_name = spill_name
        self._open_spill = open_spill
        self._spill_limit = spill_limit
        self._spill: BinaryIO | None = None
        self._spilled = 0
        self._pending: list[str] = []  # everything, until we know a spill is needed

    @property
    def truncated(self) -> bool:
        return self._total > self._head_limit + self._tail_limit

    @property
    def spill_name(self) -> str | None:
        """Name of the spill file (relative to the work dir) when the stream was truncated."""
        return self._spill_name if self._spill is not None else None

    def add(self, text: str) -> None:
        self._total += len(text)
        self._write_spill(text)
        room = self._head_limit - self._head_size
        if room > 0:
            self._head.append(text[:room])
            self._head_size += min(room, len(text))
            text = text[room:]
        if not text:
            return
        self._tail.append(text)
        self._tail_size += len(text)
        while self._tail_size - len(self._tail[0]) >= self._tail_limit:
            self._tail_size -= len(self._tail.popleft())

    def value(self, spill_label: str | None = None) -> str:
        head = "".join(self._head)
        tail = "".join(self._tail)
        if not self.truncated:
            return head + tail
        tail = tail[-self._tail_limit :]
        omitted = self._total - len(head) - len(tail)
        label = spill_label or self.spill_name or "no spill file"
        return head + omission_marker(omitted, f"the whole stream is in {label}") + tail

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()

    def _write_spill(self, text: str) -> None:
        if self._open_spill is None:
            return
        if self._spill is None:
            self._pending.append(text)
            if self._total <= self._head_limit + self._tail_limit:
                return
            try:
                self._spill = self._open_spill()
            except Exception:  # a full work dir, or a link planted in the way: head and tail only
                self._open_spill = None
                self._pending.clear()
                return
            text = "".join(self._pending)
            self._pending.clear()
        if self._spilled >= self._spill_limit:
            return
        data = text.encode("utf-8", errors="replace")
        room = self._spill_limit - self._spilled
        cut = len(data) >= room
        if cut:  # the limit is in bytes; cut on a character boundary
            data = data[:room].decode("utf-8", errors="ignore").encode() + _SPILL_CUT.encode()
        try:
            self._spill.write(data)
            self._spilled = self._spill_limit if cut else self._spilled + len(data)
        except OSError:  # the work dir filled up: the spill keeps what it has
            self._spilled = self._spill_limit


class KernelLog:
    """Drains the read end of a kernel's stdout/stderr pipe in a thread, keeping head and tail.

    The pipe must be drained: a writer blocks once 64 KiB wait in it. Whatever is written,
    this holds at most `keep` characters; the rest is counted and dropped.

    Args:
        read_fd: the pipe's read end; the log owns it and closes it at end of file (when
            every process holding the write end has exited).
        keep: characters kept (half head, half tail).
    """

    def __init__(self, read_fd: int, keep: int) -> None:
        self._capture = StreamCapture(keep)
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._drain, args=(read_fd,), name="runpad-kernel-log", daemon=True
        )
        self._thread.start()

    def _drain(self, read_fd: int) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        with contextlib.closing(os.fdopen(read_fd, "rb", buffering=0)) as pipe:
            while block := pipe.read(1 << 16):
                text = decoder.decode(block)
                with self._lock:
                    self._capture.add(text)

    def text(self) -> str:
        """What the kernel wrote so far (head and tail, with a marker where it was cut)."""
        with self._lock:
            return self._capture.value("not kept")

    def wait_closed(self, timeout: float) -> None:
        """Wait until every writer has gone and the pipe is closed (at most `timeout` s)."""
        self._thread.join(timeout)
