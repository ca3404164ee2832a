"""Resource limits of a sandbox session and of each cell."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How much a session may use. Every backend enforces what it can and reports the rest.

    Attributes:
        timeout: wall-clock seconds per cell; `run(timeout=...)` overrides it for one cell.
        interrupt_grace: seconds a timed-out cell gets to stop after the interrupt before
            the kernel is killed and restarted.
        memory_mb: memory of the whole session (kernel and its children).
        processes: processes and threads alive at once in the session.
        cpus: CPU cores' worth of time the session may use (a quota, not a pinning).
        cpu_seconds: CPU time of the kernel process before it is killed, where no CPU
            quota can be set (rlimit fallback); None for no limit.
        disk_mb: size of the work dir.
        tmp_mb: size of /tmp and of the home directory inside the sandbox.
        output_bytes: characters of stdout and of stderr kept in an Execution; the rest
            goes to a spill artifact.
        spill_bytes: at most this much of a stream is written to its spill artifact.
        start_timeout: seconds to wait for a new kernel to answer.
    """

    timeout: float = 60.0
    interrupt_grace: float = 2.0
    memory_mb: int = 2048
    processes: int = 256
    cpus: float = 1.0
    cpu_seconds: int | None = None
    disk_mb: int = 1024
    tmp_mb: int = 256
    output_bytes: int = 200_000
    spill_bytes: int = 64 * MiB
    start_timeout: float = 30.0

    def __post_init__(self) -> None:
        for name in ("timeout", "interrupt_grace", "cpus", "start_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")
        for name in ("memory_mb", "processes", "disk_mb", "tmp_mb", "output_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be at least 1, got {getattr(self, name)!r}")
