"""Executor: run the drafted cell in the thread's sandbox session and record what it did.

Output is streamed as custom events while the cell runs. Artifacts (files the cell wrote,
figures it drew, spilled output) are copied into the run directory, and the state keeps
references and short previews only.

A session lives in one process. When the executor finds none for its thread (the first
cell, or after a crash, a restart or a move to another machine) it starts one, uploads
the input files and replays the cells that succeeded, in order, so that variables made
before the interruption exist again; the stream says so.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from typing import Any

from langgraph.config import get_config
from langgraph.runtime import Runtime
from langgraph.types import StreamWriter

from runpad.sandbox.base import Sandbox
from runpad.sandbox.results import Execution, Language, OutputChunk
from runpad.state import AnalysisState, ArtifactRef, CellRecord, Context

__all__ = ["PREVIEW_CHARS", "execute_cell", "preview", "thread_dir"]

PREVIEW_CHARS = 2000
"""Characters of each output kept in state (head and tail); the rest is in artifacts."""
MAX_ARTIFACT_BYTES = 50 * 1024 * 1024


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters omitted ...]\n{text[-half:]}"


def thread_dir(context: Context, thread_id: str) -> Path:
    """Where a thread's artifacts and reports go."""
    return Path(context.run_dir) / thread_id


def current_thread_id() -> str:
    thread_id = get_config().get("configurable", {}).get("thread_id")
    return str(thread_id) if thread_id else "default"


async def execute_cell(state: AnalysisState, runtime: Runtime[Context]) -> dict[str, Any]:
    context = runtime.context
    writer = runtime.stream_writer
    draft = state["draft"]
    assert draft is not None
    thread_id = current_thread_id()
    sandbox, fresh = await context.sandbox_manager.session(thread_id)
    if fresh:
        await _prepare_session(sandbox, state, writer)
    index = len(state.get("cells", [])) + 1
    writer({"type": "cell", "index": index, "language": draft["language"], "code": draft["code"]})

    def forward(chunk: OutputChunk) -> None:
        writer({"type": chunk.stream, "cell": index, "text": chunk.text})

    execution = await sandbox.run(
        draft["code"],
        language="shell" if draft["language"] == "shell" else "python",
        on_output=forward,
    )
    artifacts = await _store_artifacts(
        sandbox, execution, thread_dir(context, thread_id) / "artifacts" / f"cell-{index}", index
    )
    for artifact in artifacts:
        writer({"type": "artifact", "cell": index, **artifact})
    record = cell_record(execution, draft["code"], draft["language"], state, index, artifacts)
    return {"cells": [record], "draft": None}


def cell_record(
    execution: Execution,
    code: str,
    language: str,
    state: AnalysisState,
    index: int,
    artifacts: list[ArtifactRef],
) -> CellRecord:
    error = execution.error
    return CellRecord(
        index=index,
        step=state.get("step_index", 0),
        attempt=state.get("attempt", 0),
        language=language,
        code=code,
        stdout=preview(execution.stdout),
        stderr=preview(execution.stderr),
        result=preview(execution.text) if execution.text is not None else None,
        error={"name": error.name, "value": error.value, "traceback": preview(error.traceback)}
        if error
        else None,
        ok=execution.ok,
        duration_ms=round(execution.duration_ms, 1),
        timed_out=execution.timed_out,
        restarted=execution.restarted,
        images=len(execution.images),
        artifacts=artifacts,
    )


async def _prepare_session(sandbox: Sandbox, state: AnalysisState, writer: StreamWriter) -> None:
    """Upload the input files; replay the cells that succeeded before (after a resume)."""
    for path in state.get("files", []):
        await sandbox.upload(Path(path), Path(path).name)
    succeeded = [cell for cell in state.get("cells", []) if cell["ok"]]
    if not succeeded:
        return
    failed_again = 0
    for cell in succeeded:
        language: Language = "shell" if cell["language"] == "shell" else "python"
        replayed = await sandbox.run(cell["code"], language=language)
        failed_again += not replayed.ok
    writer(
        {
            "type": "session_restored",
            "replayed": len(succeeded),
            "failed": failed_again,
            "message": f"Sandbox session restored: replayed {len(succeeded)} earlier cell(s)"
            + (f", {failed_again} of which failed this time" if failed_again else ""),
        }
    )


async def _store_artifacts(
    sandbox: Sandbox, execution: Execution, directory: Path, index: int
) -> list[ArtifactRef]:
    """Copy the cell's files and figures out of the sandbox, into the run directory."""
    stored: list[ArtifactRef] = []
    for artifact in execution.artifacts:
        if artifact.size > MAX_ARTIFACT_BYTES:
            continue
        data = await sandbox.download(artifact.name)
        path = directory / artifact.name
        await asyncio.to_thread(_write, path, data)
        stored.append(
            ArtifactRef(
                name=artifact.name,
                path=str(path),
                mime_type=artifact.mime_type,
                size=artifact.size,
                sha256=artifact.sha256,
                cell=index,
            )
        )
    for number, result in enumerate((r for r in execution.results if r.png is not None), 1):
        encoded = result.data["image/png"]
        data = base64.b64decode(encoded)
        name = f"figure-{number}.png"
        path = directory / name
        await asyncio.to_thread(_write, path, data)
        stored.append(
            ArtifactRef(
                name=name,
                path=str(path),
                mime_type="image/png",
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                cell=index,
            )
        )
    return stored


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
