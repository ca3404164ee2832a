"""The thread's sandbox session, rebuilt from the checkpoint when it is fresh.

A session lives in one process. When a node finds none for its thread (the first cell, or
after a crash, a restart or a move to another machine) it starts one and rebuilds what the
earlier cells left: it loads the latest kernel snapshot (`runpad.agents.snapshot`) with the
work dir it saw, then puts back the files of later SQL and DOT cells and replays the later
Python and shell cells that succeeded, in order. A snapshot holds the Python kernel only, so
every JavaScript and TypeScript cell that succeeded is replayed, in order, whatever it
covers. Without a usable snapshot it uploads the input files and replays every such cell.
The stream says which, and why.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from langgraph.config import get_config
from langgraph.types import StreamWriter

from runpad.agents.snapshot import Restored, restore_snapshot
from runpad.cells import REPLAYED_LANGUAGES, SNAPSHOT_LANGUAGES
from runpad.context import Context
from runpad.events import SessionRestored
from runpad.sandbox.base import Sandbox
from runpad.sandbox.limits import MiB
from runpad.sandbox.results import Language
from runpad.state import AnalysisState

__all__ = ["REPLAYED_LANGUAGES", "current_thread_id", "thread_dir", "thread_session"]


def thread_dir(context: Context, thread_id: str) -> Path:
    """Where a thread's artifacts and reports go."""
    return Path(context.run_dir) / thread_id


def current_thread_id() -> str:
    thread_id = get_config().get("configurable", {}).get("thread_id")
    return str(thread_id) if thread_id else "default"


async def thread_session(state: AnalysisState, context: Context, writer: StreamWriter) -> Sandbox:
    """The running session of this thread, started and restored first when it is fresh."""
    manager = context.sandbox_manager
    thread_id = current_thread_id()
    sandbox, fresh = await manager.session(thread_id)
    if not fresh or not any(cell["ok"] for cell in state.get("cells", [])):
        if fresh:
            await _upload_inputs(sandbox, state)
        return sandbox
    max_bytes = context.snapshot_max_mb * MiB
    restored = Restored(None)
    if max_bytes:
        restored = await restore_snapshot(sandbox, state, max_bytes)
    if restored.discard:  # the kernel may hold half a snapshot: start from nothing
        await manager.discard(thread_id)
        sandbox, _ = await manager.session(thread_id)
    if restored.cell is None:
        await _upload_inputs(sandbox, state)
    await _replay(sandbox, state, writer, restored)
    return sandbox


async def _upload_inputs(sandbox: Sandbox, state: AnalysisState) -> None:
    for path in state.get("files", []):
        await sandbox.upload(Path(path), Path(path).name)


_SANDBOX_LANGUAGES: dict[str, Language] = {
    "shell": "shell",
    "javascript": "javascript",
    "typescript": "typescript",
}


async def _replay(
    sandbox: Sandbox, state: AnalysisState, writer: StreamWriter, restored: Restored
) -> None:
    """Bring back what the cells after the snapshot (all cells, without one) left."""
    after = restored.cell or 0
    cells = [
        cell
        for cell in state.get("cells", [])
        if cell["ok"]
        and (
            cell["index"] > after
            # the snapshot has the Python kernel's state only: the Deno kernel's is rebuilt
            or (
                cell["language"] in REPLAYED_LANGUAGES
                and cell["language"] not in SNAPSHOT_LANGUAGES
            )
        )
    ]
    if restored.cell is None:
        # Without a snapshot, the files of SQL and DOT cells go back first, as before
        # (their order relative to Python cells is not kept in this mode).
        cells.sort(key=lambda cell: cell["language"] in REPLAYED_LANGUAGES)
    replayed = failed_again = 0
    for cell in cells:
        if cell["language"] not in REPLAYED_LANGUAGES:
            # SQL results and diagrams are files, not kernel state: put the copies back.
            for artifact in cell["artifacts"]:
                copy = Path(artifact["path"])
                if await asyncio.to_thread(copy.is_file):
                    await sandbox.upload(copy, artifact["name"])
            continue
        language = _SANDBOX_LANGUAGES.get(cell["language"], "python")
        replayed += 1
        failed_again += not (await sandbox.run(cell["code"], language=language)).ok
    if restored.cell is None and not replayed:
        return
    writer(
        SessionRestored(
            type="session_restored",
            snapshot_cell=restored.cell,
            replayed=replayed,
            failed=failed_again,
            notice=restored.notice,
            message=_message(restored, replayed, failed_again),
        )
    )


def _message(restored: Restored, replayed: int, failed: int) -> str:
    if restored.cell is None:
        text = f"Sandbox session restored: replayed {replayed} earlier cell(s)"
    else:
        text = (
            f"Sandbox session restored from the snapshot after cell {restored.cell}; "
            f"replayed {replayed} later cell(s)"
        )
    if failed:
        text += f", {failed} of which failed this time"
    if restored.notice:
        text += f" ({restored.notice})"
    return text
