"""Resource limits of a sandbox session and of each cell."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How much a session may use. Every backend enforces what it can and reports the rest.

    What a cell returns (its Execution) has one budget, `cell_output_bytes`, in characters:
    stdout, stderr and the error each keep their own cap inside it, and rich results (display
    data and the last value) share what is left. Past a cap, an item keeps a short preview and
    its whole payload is written to a spill file in the work dir, named in the preview.

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
        result_bytes: characters one rich result (all its MIME payloads together) may keep;
            a larger one becomes a preview, and its payloads go to spill artifacts.
        error_bytes: characters of an error's value and of its traceback kept (the
            traceback keeps mostly its end, where the error is).
        cell_output_bytes: characters of everything one cell returns, together.
        max_results: rich results kept per cell; later ones are counted, not kept.
        spill_bytes: at most this much of a stream is written to its spill artifact, and
            at most this much of a cell's rich results to theirs.
        max_artifacts: changed files listed as artifacts per cell; the rest are counted.
        hash_bytes: bytes of changed files the host reads per cell to hash them; files
            past it, and sparse files, are listed with an empty sha256 (unhashed).
        artifact_seconds: wall-clock seconds the host may spend after a cell finding and
            hashing its artifacts; counted in the cell's duration.
        kernel_log_bytes: characters of the kernel process's own stdout and stderr kept
            (for start-up errors); the rest is dropped, never written to the host's disk.
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
    result_bytes: int = 1_000_000
    error_bytes: int = 50_000
    cell_output_bytes: int = 2_500_000
    max_results: int = 100
    spill_bytes: int = 64 * MiB
    max_artifacts: int = 100
    hash_bytes: int = 64 * MiB
    artifact_seconds: float = 2.0
    kernel_log_bytes: int = 64_000
    start_timeout: float = 30.0

    def __post_init__(self) -> None:
        for name in ("timeout", "interrupt_grace", "cpus", "start_timeout", "artifact_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")
        for name in (
            "memory_mb",
            "processes",
            "disk_mb",
            "tmp_mb",
            "output_bytes",
            "result_bytes",
            "error_bytes",
            "max_results",
            "max_artifacts",
            "kernel_log_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be at least 1, got {getattr(self, name)!r}")
        for name in ("spill_bytes", "hash_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"Limits.{name} must not be negative, got {getattr(self, name)!r}")
        if self.results_budget < 1:
            raise ValueError(
                f"Limits.cell_output_bytes ({self.cell_output_bytes}) must exceed twice "
                f"output_bytes plus error_bytes ({2 * self.output_bytes + self.error_bytes}), "
                "so that rich results have room: raise cell_output_bytes or lower the others."
            )

    @property
    def results_budget(self) -> int:
        """Characters a cell's rich results share: the cell's budget less the other items'."""
        return self.cell_output_bytes - 2 * self.output_bytes - self.error_bytes
