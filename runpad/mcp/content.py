"""What a cell, a query or a diagram produced, as MCP content blocks, and runpad:// URIs.

A client's model reads the text; a client's UI shows the images. Large things stay out of
the result and are linked instead: each data frame's CSV and each file a cell wrote is a
resource the client can read (`runpad://session/...`), scoped to the caller's session.
"""

from __future__ import annotations

import base64
import csv
import io
import mimetypes
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

import mcp.types as types

from runpad.mcp.sessions import McpSession
from runpad.sandbox.results import Artifact, Execution, RichResult
from runpad.tools.python import format_execution

__all__ = [
    "RUN_FILES",
    "ContentBlock",
    "ParsedUri",
    "execution_content",
    "file_content",
    "file_uri",
    "guess_mime",
    "parse_uri",
    "run_uri",
    "table_csv",
    "table_uri",
]

ContentBlock = types.ContentBlock

SCHEME = "runpad://"
RUN_FILES = {
    "answer.md": "text/markdown",
    "report.md": "text/markdown",
    "notebook.ipynb": "application/x-ipynb+json",
}
"""The files of an analysis that are resources, and their MIME types."""


def file_uri(name: str) -> str:
    """The URI of a file in the caller's session work dir."""
    return f"{SCHEME}session/files/{quote(name)}"


def table_uri(name: str) -> str:
    """The URI of a data frame's or a query's CSV kept for the caller's session."""
    return f"{SCHEME}session/tables/{quote(name)}"


def run_uri(thread_id: str, file: str) -> str:
    """The URI of an analysis's answer, report or notebook."""
    return f"{SCHEME}runs/{quote(thread_id)}/{file}"


class ParsedUri:
    """A runpad:// URI taken apart: `kind` is "file", "table" or "run"."""

    def __init__(self, kind: str, name: str, file: str = "") -> None:
        self.kind = kind
        self.name = name
        self.file = file


def parse_uri(uri: str) -> ParsedUri | None:
    """The parts of a runpad:// URI, or None when it is not one this server serves."""
    if not uri.startswith(SCHEME):
        return None
    rest = uri[len(SCHEME) :]
    for prefix, kind in (("session/files/", "file"), ("session/tables/", "table")):
        if rest.startswith(prefix) and len(rest) > len(prefix):
            return ParsedUri(kind, unquote(rest[len(prefix) :]))
    if rest.startswith("runs/"):
        thread, _, file = rest[len("runs/") :].partition("/")
        if thread and file in RUN_FILES:
            return ParsedUri("run", unquote(thread), file)
    return None


def guess_mime(name: str) -> str:
    if name.endswith(".ipynb"):
        return "application/x-ipynb+json"
    if name.endswith(".md"):
        return "text/markdown"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def table_csv(table: Mapping[str, Any]) -> str:
    """A data frame's Frictionless table data (the kernel's rich result) as CSV."""
    fields = [str(f.get("name")) for f in table.get("schema", {}).get("fields", [])]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(fields)
    for row in table.get("data", []):
        writer.writerow(["" if row.get(name) is None else row.get(name) for name in fields])
    return buffer.getvalue()


def _table_note(result: RichResult, name: str) -> str:
    table = result.table or {}
    shown = len(table.get("data", []))
    total = table.get("total_rows", shown)
    rows = f"{total} rows" if total == shown else f"the first {shown} of {total} rows"
    return f"data frame as CSV ({rows}): {table_uri(name)}"


def execution_content(
    execution: Execution, session: McpSession, *, max_chars: int, note: str | None = None
) -> list[ContentBlock]:
    """A cell's result as content: the text a model reads, each figure as a PNG image,
    each data frame's CSV and each file the cell wrote as a resource link."""
    text = format_execution(execution, max_chars)
    links: list[ContentBlock] = []
    notes: list[str] = []
    images: list[ContentBlock] = []
    for result in execution.results:
        png = result.data.get("image/png")
        if isinstance(png, str):
            images.append(types.ImageContent(data=png.strip(), mime_type="image/png"))
        if result.table is not None:
            name = session.add_table(table_csv(result.table))
            notes.append(_table_note(result, name))
            links.append(
                types.ResourceLink(
                    uri=table_uri(name), name=name, mime_type="text/csv", description="a data frame"
                )
            )
    for artifact in execution.artifacts:
        links.append(_artifact_link(artifact))
    if execution.timed_out:
        notes.append(
            "The cell ran past its time limit and was stopped; the session still works. "
            "Make it faster, or give a larger `timeout`."
        )
    if execution.restarted:
        notes.append(
            "The kernel died and was restarted: variables from earlier calls are gone, files "
            "in the work dir stay. Re-run what you need."
        )
    if note:
        notes.insert(0, note)
    if notes:
        text = "\n".join(f"[note] {line}" for line in notes) + "\n" + text
    return [types.TextContent(text=text), *images, *links]


def _artifact_link(artifact: Artifact) -> types.ResourceLink:
    return types.ResourceLink(
        uri=file_uri(artifact.name),
        name=artifact.name,
        mime_type=artifact.mime_type,
        size=artifact.size,
        description="a file the cell wrote in the session's work dir",
    )


def file_content(name: str, data: bytes) -> ContentBlock:
    """A file's bytes as content: images as images, text as text, the rest as a blob."""
    mime = guess_mime(name)
    if mime in ("image/png", "image/jpeg", "image/gif", "image/webp"):
        return types.ImageContent(data=base64.b64encode(data).decode(), mime_type=mime)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        blob = types.BlobResourceContents(
            uri=file_uri(name), mime_type=mime, blob=base64.b64encode(data).decode()
        )
        return types.EmbeddedResource(resource=blob)
    return types.TextContent(text=text)
