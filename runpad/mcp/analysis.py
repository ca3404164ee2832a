"""The `analyze` tool: a whole run of the analysis graph, with its stream as MCP progress.

It goes through runpad's run API (`arun` / `aresume`), checkpointed in the server's
checkpoint store exactly as `runpad run` is, so an analysis that a server restart cut
short continues from its thread id: `analyze(thread_id=...)`.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, cast

import mcp.types as types

from runpad.context import Context
from runpad.errors import ConfigurationError, SandboxFileError
from runpad.events import RunEvent, Verdict, verdict_line
from runpad.mcp.content import ContentBlock, run_uri
from runpad.mcp.sessions import McpSession, SessionRegistry
from runpad.mcp.settings import McpSettings
from runpad.report import run_files
from runpad.runner import RunResult, aget_run, aresume, arun, new_thread_id
from runpad.text import one_line

__all__ = ["AnalysisService", "ProgressNarrator"]

Report = Callable[[str], Awaitable[None]]

_FINISHED = ("answered", "stopped", "rejected")
_NODE_DOING = {
    "router": "deciding how to answer",
    "planner": "planning",
    "searcher": "looking things up",
    "reporter": "writing the answer",
}


class ProgressNarrator:
    """Turns a run's stream events into one-line progress messages (plan, cells, verdicts).

    The same events `runpad run` draws on the terminal (`runpad.display.RunDisplay`), told
    in words that fit a progress notification.
    """

    def __init__(self) -> None:
        self.step_index = 0

    def message(self, mode: str, chunk: Any) -> list[str]:
        """The messages for one stream event (often none)."""
        if mode == "tasks" and isinstance(chunk, Mapping) and "input" in chunk:
            doing = _NODE_DOING.get(str(chunk.get("name")))
            return [doing] if doing else []
        if mode == "custom" and isinstance(chunk, Mapping) and "type" in chunk:
            return self._custom(cast(RunEvent, chunk))
        if mode == "updates" and isinstance(chunk, Mapping):
            messages = []
            for node, update in chunk.items():
                if isinstance(update, Mapping):
                    messages.extend(self._update(str(node), update))
            return messages
        return []

    def _custom(self, event: RunEvent) -> list[str]:
        if event["type"] == "cell":
            first = next((line for line in event["code"].splitlines() if line), "")
            return [
                f"cell {event['index']} ({event['language']}, step "
                f"{self.step_index + 1}): {one_line(first, 120)}"
            ]
        if event["type"] == "session_restored" or event["type"] == "check_skipped":
            return [event["message"]]
        if event["type"] == "search":
            return [f"searching the web: {one_line(event['query'], 200)}"]
        if event["type"] == "docs":
            return [f"looking up documentation: {', '.join(event['names'])}"]
        if event["type"] == "verdict":
            return self._verdict(event)
        return []

    def _update(self, node: str, update: Mapping[str, Any]) -> list[str]:
        messages = []
        if update.get("plan"):
            steps = "; ".join(
                f"{number}. {step['description']}" for number, step in enumerate(update["plan"], 1)
            )
            messages.append(f"plan: {one_line(steps, 600)}")
        if node == "router" and update.get("route") == "answer":
            messages.append("answering without running code")
        if node == "executor":
            for cell in update.get("cells", []):
                messages.append(f"cell {cell['index']}: {self._outcome(cell)}")
        if update.get("status") in ("stopped", "rejected") and update.get("stop_reason"):
            messages.append(f"{update['status']}: {one_line(str(update['stop_reason']), 400)}")
        return messages

    @staticmethod
    def _outcome(cell: Mapping[str, Any]) -> str:
        if cell.get("timed_out"):
            return f"timed out after {cell['duration_ms'] / 1000:.1f} s"
        error = cell.get("error")
        if error:
            return f"{error['name']}: {one_line(str(error['value']), 160)}"
        shown = (cell.get("stdout") or "") + (cell.get("result") or "")
        return "ok" + (f": {one_line(shown, 160)}" if shown.strip() else "")

    def _verdict(self, verdict: Verdict) -> list[str]:
        if verdict["decision"] == "next_step":
            self.step_index = verdict["step"]  # the next step, counted from 0
        line = verdict_line(verdict)
        return [f"reviewer: {line}"] if line else []


class AnalysisService:
    """Runs and resumes analyses for MCP sessions.

    Args:
        settings: the server's model, sandbox, limits, databases and run directory.
        registry: the sessions; each running analysis holds one of their slots.
    """

    def __init__(self, settings: McpSettings, registry: SessionRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self._running: set[str] = set()

    async def analyze(
        self,
        session: McpSession,
        *,
        task: str,
        files: list[str],
        databases: list[str] | None,
        thread_id: str | None,
        report: Report,
    ) -> types.CallToolResult:
        """Run (or continue) an analysis; its answer and report as the tool's result."""
        settings = self.settings
        earlier = await self._earlier_run(thread_id) if thread_id else None
        if earlier is not None and earlier.status in _FINISHED:
            session.add_run(earlier.thread_id)
            return self._result(earlier, note="This analysis had finished earlier; its result:")
        if earlier is None and not task.strip():
            return _error(
                f"There is no analysis with thread id {thread_id!r} to continue; give a `task` "
                "to start one."
            )
        thread = thread_id or new_thread_id()
        if thread in self._running:
            return _error(f"Analysis {thread} is running already; wait for its result.")
        chosen = self._databases(databases)
        if isinstance(chosen, str):
            return _error(chosen)
        paths = await self._input_files(session, files, thread)
        if isinstance(paths, str):
            return _error(paths)
        context = Context(
            model=settings.model,
            sandbox=settings.sandbox,
            sandbox_limits=settings.limits,
            run_dir=settings.run_dir,
            databases=chosen,
            allow_writes=settings.allow_writes,
        )
        narrator = ProgressNarrator()

        async def on_event(mode: str, chunk: Any) -> None:
            for line in narrator.message(mode, chunk):
                await report(line)

        self._running.add(thread)
        session.add_run(thread)
        try:
            async with self.registry.analysis_slot():
                if earlier is not None:
                    await report(f"continuing analysis {thread} from its last checkpoint")
                    result = await aresume(
                        thread,
                        context=context,
                        checkpointer=settings.checkpoint_store,
                        on_event=on_event,
                    )
                else:
                    await report(f"analysis {thread} started")
                    result = await arun(
                        task,
                        files=paths,
                        thread_id=thread,
                        context=context,
                        checkpointer=settings.checkpoint_store,
                        on_event=on_event,
                    )
        except ConfigurationError as exc:
            return _error(f"The analysis cannot go on: {exc}\n{_resume_hint(thread)}")
        finally:
            self._running.discard(thread)
            await context.aclose()
        return self._result(result)

    async def _earlier_run(self, thread_id: str) -> RunResult | None:
        store = self.settings.checkpoint_store
        is_postgres = store.startswith(("postgres://", "postgresql://"))
        if not is_postgres and not await asyncio.to_thread(Path(store).is_file):
            return None  # reading a SQLite store that does not exist would create it
        try:
            return await aget_run(thread_id, checkpointer=store, run_dir=self.settings.run_dir)
        except ConfigurationError as exc:
            if "No run with thread id" in str(exc):
                return None
            raise

    def _databases(self, names: list[str] | None) -> dict[str, str] | str:
        known = self.settings.databases
        if names is None:
            return dict(known)
        if missing := [name for name in names if name not in known]:
            return (
                f"No database named {', '.join(map(repr, missing))} on this server; it has: "
                f"{', '.join(known) or 'none (start it with --db NAME=URL)'}."
            )
        return {name: known[name] for name in names}

    async def _input_files(
        self, session: McpSession, names: list[str], thread: str
    ) -> list[Path] | str:
        """Copies of the named files, taken from the caller's work dir or the --files folder."""
        if not names:
            return []
        inputs = Path(self.settings.run_dir) / "mcp-inputs" / thread
        await asyncio.to_thread(inputs.mkdir, parents=True, exist_ok=True)
        sandbox = await self.registry.running_sandbox(session.key)
        folder = self.registry.files_dir
        paths = []
        for name in names:
            target = inputs / Path(name).name
            if sandbox is not None:
                try:
                    data = await sandbox.download(name)
                except SandboxFileError:  # not in the work dir: try the --files folder
                    data = None
                if data is not None:
                    await asyncio.to_thread(target.write_bytes, data)
                    paths.append(target)
                    continue
            if folder is not None:
                source = (folder / name).resolve()
                if source.is_relative_to(folder) and await asyncio.to_thread(source.is_file):
                    await asyncio.to_thread(shutil.copyfile, source, target)
                    paths.append(target)
                    continue
            return (
                f"No file {name!r} in this session's work dir"
                + (" or in the server's --files folder." if folder is not None else ".")
                + " Write it with write_file or run_python first, or list_files to see "
                "what is there."
            )
        return paths

    def _result(self, result: RunResult, note: str | None = None) -> types.CallToolResult:
        thread = result.thread_id
        lines = [note] if note else []
        lines.append(f"status: {result.status}   thread: {thread}   cells: {len(result.cells)}")
        if result.answer:
            lines.append(f"\n{result.answer.strip()}")
        elif result.stop_reason:
            lines.append(f"\nNo answer: {result.stop_reason}")
        if not result.ok:
            lines.append(_resume_hint(thread))
        content: list[ContentBlock] = [types.TextContent(text="\n".join(lines))]
        report_text = None
        if result.output_dir is not None:
            files = run_files(result.output_dir)
            if files.report.is_file():
                report_text = files.report.read_text(encoding="utf-8")
        if report_text is not None:
            limit = self.settings.max_output_chars * 4
            if len(report_text) <= limit:
                content.append(
                    types.EmbeddedResource(
                        resource=types.TextResourceContents(
                            uri=run_uri(thread, "report.md"),
                            mime_type="text/markdown",
                            text=report_text,
                        )
                    )
                )
            for file, what in (("report.md", "the report"), ("notebook.ipynb", "the notebook")):
                content.append(
                    types.ResourceLink(
                        uri=run_uri(thread, file),
                        name=f"{thread}/{file}",
                        mime_type="text/markdown" if file.endswith(".md") else None,
                        description=f"{what} of analysis {thread}",
                    )
                )
        structured = {
            "thread_id": thread,
            "status": result.status,
            "answer": result.answer,
            "stop_reason": result.stop_reason,
            "cells": len(result.cells),
            "report": run_uri(thread, "report.md"),
            "notebook": run_uri(thread, "notebook.ipynb"),
        }
        return types.CallToolResult(
            content=content, structured_content=structured, is_error=not result.ok
        )


def _resume_hint(thread: str) -> str:
    return (
        f"What was done is checkpointed: call analyze with thread_id={thread!r} to continue "
        "(also after a server restart)."
    )


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)
