"""Graphviz DOT, rendered to SVG and PNG by the `dot` program inside the sandbox.

The source is written into the session's work dir and `dot` runs there, as a subprocess of
the sandboxed interpreter: a diagram is as isolated as any cell, and its files come back as
the cell's artifacts. Bad DOT is an error value carrying Graphviz's own message, for the
model to repair; a sandbox without Graphviz is an error value that says how to install it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools.base import ArgsSchema
from pydantic import BaseModel, Field

from runpad.sandbox.base import Sandbox
from runpad.sandbox.results import Execution, ExecutionError
from runpad.tools.python import format_execution
from runpad.tools.session import SandboxTool

__all__ = [
    "DOT_FORMATS",
    "RENDER_DOT_DESCRIPTION",
    "RenderDotInput",
    "RenderDotTool",
    "render_dot",
]

DOT_FORMATS = ("svg", "png")
"""What each diagram is rendered to."""

_MARKER = "__runpad_dot__"
_STEM = re.compile(r"[^A-Za-z0-9_.-]+")

# Runs in the session. Everything lives inside one function that deletes itself, so the
# user's namespace is left as it was.
_RENDER = """\
def __runpad_render_dot(source, stem, formats, timeout, marker):
    import json, shutil, subprocess
    report = {"missing": shutil.which("dot") is None, "files": [], "error": None, "warnings": ""}
    if not report["missing"]:
        with open(stem + ".dot", "w", encoding="utf-8") as handle:
            handle.write(source)
        for fmt in formats:
            try:
                done = subprocess.run(
                    ["dot", "-T" + fmt, "-o", stem + "." + fmt, stem + ".dot"],
                    capture_output=True, text=True, timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                report["error"] = "Graphviz took longer than %s s to lay the graph out." % timeout
                break
            if done.returncode != 0:
                report["error"] = done.stderr.strip() or "dot exited with %s" % done.returncode
                break
            report["warnings"] += done.stderr
            report["files"].append(stem + "." + fmt)
    print(marker + json.dumps(report))
"""


def _render_code(source: str, stem: str, timeout: float) -> str:
    arguments = ", ".join(repr(a) for a in (source, stem, list(DOT_FORMATS), timeout, _MARKER))
    return (
        f"{_RENDER}try:\n    __runpad_render_dot({arguments})\n"
        "finally:\n    del __runpad_render_dot\n"
    )


async def render_dot(
    sandbox: Sandbox, source: str, name: str = "diagram", *, timeout: float = 60.0
) -> Execution:
    """Render DOT `source` to `<name>.svg` and `<name>.png` in the sandbox's work dir.

    Returns the cell's `Execution`: its artifacts are the `.dot` source and the rendered
    files, its stdout says what was written, and a Graphviz error (bad syntax, a layout
    that takes too long, `dot` not installed) is `error`, never an exception.

    Example:
        ```python
        async with open_sandbox("local") as sandbox:
            execution = await render_dot(sandbox, "digraph { a -> b }", "flow")
            assert [a.name for a in execution.artifacts] == ["flow.dot", "flow.png", "flow.svg"]
        ```
    """
    stem = _STEM.sub("-", name).strip("-.") or "diagram"
    execution = await sandbox.run(_render_code(source, stem, timeout), timeout=timeout + 10)
    report = _report(execution.stdout)
    if execution.error is not None or report is None:
        return execution  # the sandbox itself failed or timed out: keep its own account
    # Each format reports the same warnings: keep one of each.
    warnings = "\n".join(dict.fromkeys(str(report.get("warnings") or "").strip().splitlines()))
    if report.get("missing"):
        error = ExecutionError(
            "GraphvizNotInstalled",
            "Graphviz's `dot` program is not installed in the sandbox. Install Graphviz "
            "where the sandbox finds its programs (`apt-get install graphviz`, or "
            "`make system`; for the docker backend, in the image), or draw the diagram "
            "another way.",
        )
        return dataclasses.replace(execution, stdout="", error=error)
    if report.get("error"):
        message = str(report["error"])
        error = ExecutionError("DotSyntaxError" if "syntax" in message else "DotError", message)
        return dataclasses.replace(execution, stdout="", stderr=warnings, error=error)
    files = [str(name) for name in report.get("files", [])]
    summary = f"Rendered {stem}.dot to " + " and ".join(files) + "."
    return dataclasses.replace(execution, stdout=summary + "\n", stderr=warnings)


def _report(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(_MARKER):
            try:
                report = json.loads(line[len(_MARKER) :])
            except json.JSONDecodeError:
                return None
            return report if isinstance(report, dict) else None
    return None


RENDER_DOT_DESCRIPTION = """\
Draw a diagram from Graphviz DOT source: it is rendered to SVG and PNG files.
- Give complete DOT, e.g. `digraph G { rankdir=LR; a -> b; b -> c [label="yes"]; }`.
- The files are named after `name` (name.svg, name.png, and the source as name.dot).
- If the DOT is invalid, Graphviz's error message comes back: fix the source and call again."""


class RenderDotInput(BaseModel):
    """The arguments the model gives `render_dot`."""

    source: str = Field(description="The complete Graphviz DOT source of the diagram.")
    name: str = Field(
        default="diagram",
        description="File name for the outputs, without extension (letters, digits, - and _).",
    )


class RenderDotTool(SandboxTool):
    """The `render_dot` tool: Graphviz diagrams, rendered inside a sandbox session.

    Args:
        sandbox: where the session comes from (see `SandboxTool`).
        timeout: seconds Graphviz may take to lay out one diagram.

    Example:
        ```python
        from runpad.sandbox import open_sandbox
        from runpad.tools import RenderDotTool

        async with RenderDotTool(lambda: open_sandbox("local")) as render:
            print(await render.ainvoke({"source": "digraph { a -> b }", "name": "flow"}))
        ```
    """

    name: str = "render_dot"
    description: str = RENDER_DOT_DESCRIPTION
    args_schema: ArgsSchema | None = RenderDotInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"

    timeout: float = Field(default=60.0, gt=0)

    def _run(
        self,
        source: str,
        name: str = "diagram",
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str, dict[str, Any]]:
        execution = self._in_session_sync(
            lambda sandbox: render_dot(sandbox, source, name, timeout=self.timeout)
        )
        return format_execution(execution), execution.to_dict()

    async def _arun(
        self,
        source: str,
        name: str = "diagram",
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> tuple[str, dict[str, Any]]:
        execution = await self._in_session(
            lambda sandbox: render_dot(sandbox, source, name, timeout=self.timeout)
        )
        return format_execution(execution), execution.to_dict()
