"""The thread's sandbox session, rebuilt from the checkpoint when it is fresh.

A session lives in one process. When a node finds none for its thread (the first cell, or
after a crash, a restart or a move to another machine) it starts one, uploads the input
files and the files that SQL and DOT cells produced, and replays the Python and shell cells
that succeeded, in order, so that variables made before the interruption exist again; the
stream says so.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from langgraph.config import get_config
from langgraph.types import StreamWriter

from runpad.context import Context
from runpad.events import SessionRestored
from runpad.sandbox.base import Sandbox
from runpad.sandbox.results import Language
from runpad.state import AnalysisState

__all__ = ["REPLAYED_LANGUAGES", "current_thread_id", "thread_dir", "thread_session"]

REPLAYED_LANGUAGES = ("python", "shell")
"""Cells that change the kernel's state, and so are replayed into a fresh session."""


def thread_dir(context: Context, thread_id: str) -> Path:
    """Where a thread's artifacts and reports go."""
    return Path(context.run_dir) / thread_id


def current_thread_id() -> str:
    thread_id = get_config().get("configurable", {}).get("thread_id")
    return str(thread_id) if thread_id else "default"


async def thread_session(state: AnalysisState, context: Context, writer: StreamWriter) -> Sandbox:
    """The running session of this thread, started and restored first when it is fresh."""
    sandbox, fresh = await context.sandbox_manager.session(current_thread_id())
    if fresh:
        await _prepare_session(sandbox, state, writer)
    return sandbox


async def _prepare_session(sandbox: Sandbox, state: AnalysisState, writer: StreamWriter) -> None:
    """Upload the input files; restore what earlier cells left (after a resume)."""
    for path in state.get("files", []):
        await sandbox.upload(Path(path), Path(path).name)
    cells = [cell for cell in state.get("cells", []) if cell["ok"]]
    for cell in cells:
        if cell["language"] in REPLAYED_LANGUAGES:
            continue
        # SQL results and diagrams are files, not kernel state: put the copies back.
        for artifact in cell["artifacts"]:
            copy = Path(artifact["path"])
            if await asyncio.to_thread(copy.is_file):
                await sandbox.upload(copy, artifact["name"])
    succeeded = [cell for cell in cells if cell["language"] in REPLAYED_LANGUAGES]
    if not succeeded:
        return
    failed_again = 0
    for cell in succeeded:
        language: Language = "shell" if cell["language"] == "shell" else "python"
        replayed = await sandbox.run(cell["code"], language=language)
        failed_again += not replayed.ok
    writer(
        SessionRestored(
            type="session_restored",
            replayed=len(succeeded),
            failed=failed_again,
            message=f"Sandbox session restored: replayed {len(succeeded)} earlier cell(s)"
            + (f", {failed_again} of which failed this time" if failed_again else ""),
        )
    )
