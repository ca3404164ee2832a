"""Executor: run the drafted cell and record what it did, whatever its language.

- python / shell: in the thread's sandbox session, output streamed as custom events;
- javascript / typescript: the same, in the session's Deno kernel (same work dir);
- sql: on the named database of `Context.databases` (read-only unless allowed), the
  result as a table preview and a CSV file, which also goes into the sandbox's work dir
  so that later Python cells can load it;
- dot: rendered to SVG and PNG by Graphviz inside the sandbox.

Artifacts (files the cell wrote, figures it drew, spilled output, SQL results) are copied
into the run directory, and the state keeps references and short previews only. A fresh
session is rebuilt from the checkpoint first (`runpad.agents.session`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import StreamWriter

from runpad.agents.session import (
    current_thread_id,
    kernel_language,
    thread_dir,
    thread_session,
)
from runpad.agents.snapshot import take_snapshot
from runpad.cells import PYTHON_KERNEL_LANGUAGES
from runpad.context import Context
from runpad.errors import SandboxLost
from runpad.events import ArtifactSaved, CellOutput, CellStarted, SnapshotSkipped
from runpad.sandbox.base import Sandbox
from runpad.sandbox.limits import MiB
from runpad.sandbox.results import Execution, OutputChunk
from runpad.sql.results import SqlResult, format_sql_result
from runpad.state import AnalysisState, ArtifactRef, CellDraft, CellLanguage, CellRecord, ErrorInfo
from runpad.text import head_tail
from runpad.tools.dot import render_dot

__all__ = [
    "PREVIEW_CHARS",
    "cell_record",
    "execute_cell",
    "split_database_line",
    "thread_dir",
]

PREVIEW_CHARS = 2000
"""Characters of each output kept in state (head and tail); the rest is in artifacts."""
MAX_ARTIFACT_BYTES = 50 * 1024 * 1024
_LOST_SESSIONS_PER_CELL = 2
"""Sessions one cell may lose with their machine before the run fails (a node that keeps
dying is a cluster problem, not one to retry forever)."""

_DATABASE_LINE = re.compile(r"^\s*--\s*database\s*:\s*(?P<name>[\w.-]+)\s*$", re.I | re.M)


def split_database_line(code: str, databases: list[str]) -> tuple[str | None, str]:
    """(the database a SQL cell names in `-- database: NAME`, or the only one; its SQL)."""
    match = _DATABASE_LINE.search(code)
    if match:
        return match.group("name"), (code[: match.start()] + code[match.end() :]).strip()
    return (databases[0] if len(databases) == 1 else None), code


async def execute_cell(state: AnalysisState, runtime: Runtime[Context]) -> dict[str, Any]:
    context = runtime.context
    writer = runtime.stream_writer
    draft = state["draft"]
    assert draft is not None
    index = len(state.get("cells", [])) + 1
    writer(CellStarted(type="cell", index=index, language=draft["language"], code=draft["code"]))
    update: dict[str, Any] = {"draft": None}
    if draft["language"] == "sql":
        record = await _run_sql(draft, state, context, writer, index)
    else:
        record = await _run_in_sandbox(draft, state, context, writer, index, update)
    return {"cells": [record], **update}


async def _run_in_sandbox(
    draft: CellDraft,
    state: AnalysisState,
    context: Context,
    writer: StreamWriter,
    index: int,
    update: dict[str, Any],
) -> CellRecord:
    """Run the cell; a session lost with its machine (a Ray node) is rebuilt elsewhere from
    the checkpointed cells, as on resume, and the cell runs again there."""
    for lost in range(_LOST_SESSIONS_PER_CELL + 1):
        try:
            return await _run_in_session(draft, state, context, writer, index, update)
        except SandboxLost as exc:
            if lost == _LOST_SESSIONS_PER_CELL:
                raise
            await context.sandbox_manager.discard(current_thread_id())
            notice = f"[runpad] {exc} Running cell {index} again in a new session.\n"
            writer(CellOutput(type="stderr", cell=index, text=notice))
    raise AssertionError("unreachable")


async def _run_in_session(
    draft: CellDraft,
    state: AnalysisState,
    context: Context,
    writer: StreamWriter,
    index: int,
    update: dict[str, Any],
) -> CellRecord:
    """Run the cell; after one that changed the kernel and worked, snapshot it into `update`."""
    sandbox = await thread_session(state, context, writer)

    def forward(chunk: OutputChunk) -> None:
        writer(CellOutput(type=chunk.stream, cell=index, text=chunk.text))

    if draft["language"] == "dot":
        execution = await render_dot(sandbox, draft["code"], f"diagram-{index}")
        if execution.stdout:
            writer(CellOutput(type="stdout", cell=index, text=execution.stdout))
    else:
        execution = await sandbox.run(
            draft["code"], language=kernel_language(draft["language"]), on_output=forward
        )
    directory = thread_dir(context, current_thread_id()) / "artifacts" / f"cell-{index}"
    artifacts = await _store_artifacts(sandbox, execution, directory, index)
    for artifact in artifacts:
        writer(ArtifactSaved(type="artifact", **artifact))
    # A snapshot holds the Python kernel's state: after a Deno cell there is nothing new in
    # it (the Deno cells are replayed on a resume instead).
    snapshots = draft["language"] in PYTHON_KERNEL_LANGUAGES and context.snapshot_max_mb
    if execution.ok and snapshots:
        update.update(await _snapshot(sandbox, state, context, writer, index))
    return cell_record(execution, draft["code"], draft["language"], state, index, artifacts)


async def _snapshot(
    sandbox: Sandbox, state: AnalysisState, context: Context, writer: StreamWriter, index: int
) -> dict[str, Any]:
    """The state update of a snapshot after cell `index`; a failure is a notice, not an error."""
    ref, problem = await take_snapshot(
        sandbox,
        cell=index,
        directory=thread_dir(context, current_thread_id()) / "snapshots",
        max_bytes=context.snapshot_max_mb * MiB,
        previous=state.get("snapshot"),
    )
    if ref is not None:
        return {"snapshot": ref, "snapshot_note": None}
    note = f"no snapshot after cell {index}: {problem}"
    if problem != _problem_of(state.get("snapshot_note")):  # say it once, not after every cell
        writer(SnapshotSkipped(type="snapshot_skipped", cell=index, message=note))
    return {"snapshot_note": note}


def _problem_of(note: str | None) -> str | None:
    return note.split(": ", 1)[1] if note and ": " in note else None


async def _run_sql(
    draft: CellDraft, state: AnalysisState, context: Context, writer: StreamWriter, index: int
) -> CellRecord:
    name, query = split_database_line(draft["code"], list(context.databases))
    if name is None or name not in context.databases:
        known = ", ".join(context.databases) or "none"
        problem = "names no database" if name is None else f"names database {name!r}"
        message = (
            f"The SQL cell {problem}; start it with a line `-- database: NAME`, NAME one of: "
            f"{known}."
        )
        return _sql_record(draft, state, index, None, message, [])
    result = await context.database(name).arun(query)
    text = format_sql_result(result, context.sql_limits.preview_rows)
    artifacts: list[ArtifactRef] = []
    if result.ok and result.columns:
        artifacts = [await _store_sql_result(result, state, context, index)]
        text += f"\nThe whole result is in {artifacts[0]['name']} in the working directory."
    writer(CellOutput(type="stdout" if result.ok else "stderr", cell=index, text=text + "\n"))
    for artifact in artifacts:
        writer(ArtifactSaved(type="artifact", **artifact))
    return _sql_record(draft, state, index, result, text, artifacts)


async def _store_sql_result(
    result: SqlResult, state: AnalysisState, context: Context, index: int
) -> ArtifactRef:
    """The CSV in the run directory and, when the thread has a session, in its work dir."""
    thread_id = current_thread_id()
    data = (await asyncio.to_thread(result.to_csv)).encode()
    name = f"query-{index}.csv"
    path = thread_dir(context, thread_id) / "artifacts" / f"cell-{index}" / name
    await asyncio.to_thread(_write, path, data)
    if context.sandbox_manager.has_session(thread_id):
        sandbox, _ = await context.sandbox_manager.session(thread_id)
        await sandbox.upload(data, name)
    # (a session started later gets it from the run directory: runpad.agents.session)
    return ArtifactRef(
        name=name,
        path=str(path),
        mime_type="text/csv",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        cell=index,
    )


def _sql_record(
    draft: CellDraft,
    state: AnalysisState,
    index: int,
    result: SqlResult | None,
    text: str,
    artifacts: list[ArtifactRef],
) -> CellRecord:
    error: ErrorInfo | None = None
    if result is None:
        error = {"name": "DatabaseNotNamed", "value": text, "traceback": ""}
    elif result.error is not None:
        error = {"name": result.error.name, "value": result.error.value, "traceback": ""}
    return CellRecord(
        index=index,
        step=state.get("step_index", 0),
        attempt=state.get("attempt", 0),
        language="sql",
        code=draft["code"],
        stdout=head_tail(text, PREVIEW_CHARS) if error is None else "",
        stderr="",
        result=None,
        error=error,
        ok=error is None,
        duration_ms=round(result.duration_ms, 1) if result else 0.0,
        timed_out=bool(result and result.timed_out),
        restarted=False,
        images=0,
        artifacts=artifacts,
    )


def cell_record(
    execution: Execution,
    code: str,
    language: CellLanguage,
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
        stdout=head_tail(execution.stdout, PREVIEW_CHARS),
        stderr=head_tail(execution.stderr, PREVIEW_CHARS),
        result=head_tail(execution.text, PREVIEW_CHARS) if execution.text is not None else None,
        error={
            "name": error.name,
            "value": error.value,
            "traceback": head_tail(error.traceback, PREVIEW_CHARS, head_share=0.2),
        }
        if error
        else None,
        ok=execution.ok,
        duration_ms=round(execution.duration_ms, 1),
        timed_out=execution.timed_out,
        restarted=execution.restarted,
        images=len(execution.images),
        artifacts=artifacts,
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
