"""Kernel snapshots: resume a run without running its past cells again.

After each Python or shell cell that worked, the executor asks the kernel to pickle its
namespace (`runpad.sandbox.kernel.snapshot`, which runs inside the sandbox) into the work
dir, copies the file as bytes into the run folder (`<run_dir>/<thread>/snapshots/`) and
keeps a `SnapshotRef` in the state. A fresh session (after a crash, a restart or on another
machine) loads the latest one and replays only the cells after it.

The host never unpickles a snapshot: it is data that code the model wrote has shaped. It
only hashes the bytes, checks the versions recorded beside them, and hands them to the new
kernel. A snapshot that cannot be used (a variable that cannot be pickled, over the size
limit, a file whose hash no longer matches, another runpad or Python) is passed over with a
notice in the stream, and the cells are replayed instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runpad.errors import SandboxError
from runpad.sandbox.base import Sandbox
from runpad.sandbox.results import Execution
from runpad.state import AnalysisState, ArtifactRef, SnapshotRef, WorkFile

__all__ = ["Restored", "restore_snapshot", "take_snapshot"]

logger = logging.getLogger(__name__)

SNAPSHOT_NAME = ".runpad/namespace.pkl"
"""Where the kernel writes a snapshot in the work dir, for the host to copy out."""
RESTORE_NAME = ".runpad/restore.pkl"
FORMAT = 1
"""The snapshot format this runpad reads: `FORMAT`."""
MARKER = "__runpad_snapshot__ "
"""What starts the report line of the kernel-side code: `MARKER`."""
KERNEL_CODE = Path(__file__).resolve().parents[1] / "sandbox" / "kernel" / "snapshot.py"
"""The kernel-side code, sent to the kernel as text (never imported here)."""

# The local and docker backends give each session a private /tmp and home; a file written
# there would be lost with the session, so its presence rules a snapshot out.
_PRIVATE_DIRS = {
    "local": ["/tmp", "/home/sandbox"],
    "docker": ["/tmp", "/home/sandbox"],
    "ray": ["/tmp", "/home/sandbox"],  # a local or docker session on a Ray node
}
# The test double runs cells in the host process itself: snapshot code there would pickle
# and load in the host, which no snapshot may ever do.
_IN_PROCESS_BACKENDS = ("fake",)
_SOURCE = KERNEL_CODE.read_text()
_BOOTSTRAP = (
    "import sys, types\n"
    "module = types.ModuleType('_runpad_kernel')\n"
    "module.__file__ = '<runpad kernel_snapshot>'\n"
    "exec(compile(SOURCE, module.__file__, 'exec'), module.__dict__)\n"
    "sys.modules['_runpad_kernel'] = module\n"
)
# An exec() call: it binds no name in the user's namespace and displays nothing.
_INSTALL = f"exec({_BOOTSTRAP!r}, {{'SOURCE': {_SOURCE!r}}})\n"
_MODULE = "__import__('sys').modules['_runpad_kernel']"


def _runpad_version() -> str:
    import runpad  # here: runpad's package imports this module while it loads

    return runpad.__version__


async def take_snapshot(
    sandbox: Sandbox,
    *,
    cell: int,
    directory: Path,
    max_bytes: int,
    previous: SnapshotRef | None,
) -> tuple[SnapshotRef | None, str | None]:
    """Snapshot the kernel after cell `cell` into `directory`: (the ref, None) or (None, why).

    When the pickle is the same as `previous`'s, the file is not copied again.
    """
    if sandbox.backend in _IN_PROCESS_BACKENDS:
        return None, f"the {sandbox.backend!r} sandbox runs cells in this process"
    call = (
        f"{_MODULE}.snapshot({SNAPSHOT_NAME!r}, {max_bytes}, "
        f"{_PRIVATE_DIRS.get(sandbox.backend, [])!r})"
    )
    execution = await sandbox.run(call)
    if _not_installed(execution):  # a new kernel (a restart): install the code first
        execution = await sandbox.run(_INSTALL + call)
    report = _report(execution)
    if not report.get("ok"):
        return None, str(report.get("problem") or "the snapshot failed")
    files: list[WorkFile] = report["files"]
    try:
        path = await _keep_file(sandbox, report, cell, directory, previous)
    except (_CopyFailed, SandboxError, OSError) as exc:
        return None, f"the snapshot could not be copied into the run folder: {exc}"
    finally:
        await sandbox.upload(b"", SNAPSHOT_NAME)  # free the work dir's space
    return SnapshotRef(
        cell=cell,
        path=str(path),
        sha256=report["sha256"],
        size=report["size"],
        format=report["format"],
        python=report["python"],
        cloudpickle=report["cloudpickle"],
        runpad=_runpad_version(),
        variables=report["variables"],
        files=files,
        directories=report["directories"],
    ), None


async def _keep_file(
    sandbox: Sandbox,
    report: dict[str, Any],
    cell: int,
    directory: Path,
    previous: SnapshotRef | None,
) -> Path:
    unchanged = previous is not None and previous["sha256"] == report["sha256"]
    if (
        previous is not None
        and unchanged
        and await asyncio.to_thread(Path(previous["path"]).is_file)
    ):
        return Path(previous["path"])
    data = await sandbox.download(SNAPSHOT_NAME)
    if hashlib.sha256(data).hexdigest() != report["sha256"]:
        raise _CopyFailed("the file changed while it was copied")
    path = directory / f"cell-{cell}.pkl"
    keep = {path, Path(previous["path"])} if previous else {path}
    await asyncio.to_thread(_write_and_prune, path, data, keep)
    return path


class _CopyFailed(Exception):
    """The kernel's snapshot file could not be copied into the run folder."""


def _write_and_prune(path: Path, data: bytes, keep: set[Path]) -> None:
    """Write the new file atomically; remove older snapshots than the state's latest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
    for old in path.parent.glob("cell-*.pkl"):
        if old not in keep:
            old.unlink(missing_ok=True)


def _not_installed(execution: Execution) -> bool:
    error = execution.error
    return error is not None and error.name == "KeyError" and "_runpad_kernel" in error.value


def _report(execution: Execution) -> dict[str, Any]:
    """The JSON line the kernel-side code printed, or what went wrong instead."""
    for line in reversed(execution.stdout.splitlines()):
        if line.startswith(MARKER):
            report = json.loads(line[len(MARKER) :])
            return report if isinstance(report, dict) else {}
    if execution.error is not None:
        problem = f"the snapshot code failed: {execution.error.name}: {execution.error.value}"
        return {"ok": False, "problem": problem}
    return {"ok": False, "problem": "the kernel gave no snapshot report"}


@dataclass(frozen=True)
class Restored:
    """What `restore_snapshot` did.

    Attributes:
        cell: the cell whose snapshot the kernel now holds, or None when none was loaded.
        notice: why no snapshot (or an older one) was used, for the stream.
        discard: the kernel may hold part of a snapshot: the session must be thrown away.
    """

    cell: int | None
    notice: str | None = None
    discard: bool = False


async def restore_snapshot(sandbox: Sandbox, state: AnalysisState, max_bytes: int) -> Restored:
    """Load the state's latest snapshot and the work dir it saw into a fresh session."""
    ref = state.get("snapshot")
    note = state.get("snapshot_note")
    if ref is None or sandbox.backend in _IN_PROCESS_BACKENDS:
        return Restored(None, note)
    unusable = await asyncio.to_thread(_check, ref, max_bytes)
    if unusable:
        notice = f"the snapshot after cell {ref['cell']} was ignored: {unusable}"
        return Restored(None, _joined(notice, note))
    copies = await asyncio.to_thread(_work_dir_copies, ref, state)
    if isinstance(copies, str):
        notice = f"the snapshot after cell {ref['cell']} was not used: {copies}"
        return Restored(None, _joined(notice, note))
    for name, data in copies.items():
        await sandbox.upload(data, name)
    await sandbox.upload(await asyncio.to_thread(Path(ref["path"]).read_bytes), RESTORE_NAME)
    modes = {f["name"]: f["mode"] for f in ref["files"] if f["mode"] != 0o644}
    call = (
        f"{_MODULE}.restore({RESTORE_NAME!r}, {ref['sha256']!r}, {max_bytes}, "
        f"{json.dumps(ref['directories'])!r}, {json.dumps(modes)!r})"
    )
    report = _report(await sandbox.run(_INSTALL + call))
    if not report.get("ok"):
        problem = report.get("problem") or "loading it failed"
        notice = f"the snapshot after cell {ref['cell']} could not be loaded: {problem}"
        logger.warning("%s; replaying every cell instead", notice)
        return Restored(None, _joined(notice, note), discard=True)
    return Restored(ref["cell"], note)


def _joined(first: str, second: str | None) -> str:
    return f"{first}; {second}" if second else first


def _check(ref: SnapshotRef, max_bytes: int) -> str | None:
    """Why the snapshot file cannot be used, or None. Reads it as bytes, never unpickles."""
    if ref["runpad"] != _runpad_version():
        return f"it was taken by runpad {ref['runpad']}, this is runpad {_runpad_version()}"
    if ref["format"] != FORMAT:
        return f"it has format {ref['format']}, this runpad reads {FORMAT}"
    path = Path(ref["path"])
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return f"its {size} bytes are over the snapshot limit of {max_bytes} bytes"
        data = path.read_bytes()
    except OSError as exc:
        return f"its file cannot be read ({exc.strerror or exc})"
    if hashlib.sha256(data).hexdigest() != ref["sha256"]:
        return f"its file {path} does not match its sha256 (corrupted or changed)"
    return None


def _work_dir_copies(ref: SnapshotRef, state: AnalysisState) -> dict[str, bytes] | str:
    """The work dir's files at the snapshot, from the run folder's copies; or what is missing.

    Candidates are the input files and the artifacts of the cells up to the snapshot; a
    copy counts only when its bytes still have the hash the kernel saw.
    """
    candidates: dict[tuple[str, str], list[Path]] = {}
    for cell in state.get("cells", []):
        if cell["index"] <= ref["cell"]:
            for artifact in cell["artifacts"]:
                _add(candidates, artifact)
    wanted = {(f["name"], f["sha256"]) for f in ref["files"]}
    for source in state.get("files", []):
        name = Path(source).name
        if any(key[0] == name for key in wanted):
            try:
                digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()
            except OSError:
                continue
            candidates.setdefault((name, digest), []).append(Path(source))
    copies: dict[str, bytes] = {}
    for entry in ref["files"]:
        data = _verified_copy(candidates.get((entry["name"], entry["sha256"]), []), entry)
        if data is None:
            return f"no copy of the work dir file {entry['name']} is left in the run folder"
        copies[entry["name"]] = data
    return copies


def _add(candidates: dict[tuple[str, str], list[Path]], artifact: ArtifactRef) -> None:
    candidates.setdefault((artifact["name"], artifact["sha256"]), []).append(Path(artifact["path"]))


def _verified_copy(paths: list[Path], entry: WorkFile) -> bytes | None:
    for path in reversed(paths):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if hashlib.sha256(data).hexdigest() == entry["sha256"]:
            return data
    return None
