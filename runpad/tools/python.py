"""`run_python`: a LangChain tool that runs code in a stateful sandbox session.

Any LangChain agent can use it. The model gets a compact text (streams, the last
expression's value, the error's traceback, the files written), cut to a size a prompt can
afford; the whole `Execution` rides along as the ToolMessage's artifact.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools.base import ArgsSchema
from pydantic import BaseModel, Field

from runpad.sandbox.base import Sandbox
from runpad.sandbox.results import Execution, format_size
from runpad.text import head_tail
from runpad.tools.session import SandboxSource, SandboxTool

__all__ = [
    "RUN_PYTHON_DESCRIPTION",
    "RunPythonInput",
    "RunPythonTool",
    "SandboxSource",
    "format_execution",
]


RUN_PYTHON_DESCRIPTION = """\
Run Python code in a persistent, sandboxed IPython session and see what it produced.
- The session is stateful, like a notebook: variables, imports and functions from earlier \
calls are still defined. Build on them instead of recomputing.
- Files live in the current working directory: read inputs from it and write outputs to \
it; the files a call creates or changes are listed in its result.
- The value of the last expression is shown, as in a notebook; print() anything else you \
need to see. Matplotlib figures are captured.
- The data stack is installed (numpy, pandas, matplotlib, scipy, scikit-learn, ...).
- If the code raises, the error and its traceback come back: fix the code and call again."""


class RunPythonInput(BaseModel):
    """The arguments the model gives `run_python`."""

    code: str = Field(description="Python source to run as one cell.")
    timeout: float | None = Field(
        default=None,
        gt=0,
        description="Seconds this cell may run before it is interrupted; "
        "leave out for the session's default.",
    )


# -- what the model reads --------------------------------------------------------------------


def format_execution(execution: Execution, max_chars: int = 4000) -> str:
    """A compact text of what a cell produced, for a model to read.

    Sections appear only when they have content: stdout, stderr, the last expression's
    value, other displayed objects, the error with its traceback, the files written. When
    the whole is longer than `max_chars`, the longest sections are cut first, keeping
    their head and tail (a traceback keeps mostly its end, where the error is).
    """
    sections: list[tuple[str, str, float]] = []  # (label, text, share of a cut kept as head)
    if execution.stdout:
        sections.append(("stdout", execution.stdout.rstrip("\n"), 0.5))
    if execution.stderr:
        sections.append(("stderr", execution.stderr.rstrip("\n"), 0.5))
    if (result := execution.text) is not None:
        sections.append(("result", result, 0.5))
    for shown in execution.results:
        if not shown.is_main_result:
            kinds = ", ".join(t for t in shown.mime_types if t != "text/plain")
            text = shown.text or "(no text form)"
            sections.append(("display", f"{text} ({kinds})" if kinds else text, 0.5))
    if (error := execution.error) is not None:
        summary = f"{error.name}: {error.value}"
        traceback = error.traceback.rstrip("\n")
        text = traceback if traceback.endswith(summary) else f"{traceback}\n{summary}".strip()
        sections.append(("error", text, 0.2))
    if execution.restarted:
        sections.append(("note", "The kernel was restarted: variables are gone, files stay.", 1))
    notes = [
        f"the whole {name} is in the file {spill}"
        for name, spill in (("stdout", execution.stdout_spill), ("stderr", execution.stderr_spill))
        if spill
    ]
    if notes:
        sections.append(("note", "; ".join(notes).capitalize() + ".", 1))
    if execution.results_omitted:
        sections.append(
            (
                "note",
                f"{execution.results_omitted} more displayed objects were dropped at the "
                "output limit.",
                1,
            )
        )
    if execution.artifacts or execution.artifacts_omitted:
        files = ", ".join(f"{a.name} ({format_size(a.size)})" for a in execution.artifacts)
        if execution.artifacts_omitted:
            files += f", and {execution.artifacts_omitted:,} more files"
        if not execution.artifacts_complete:
            files += " (the search for changed files stopped at its time limit; there may be more)"
        sections.append(("files written", files.removeprefix(", "), 0.5))
    if not sections:
        return "(the code ran and produced no output; end with an expression or print() it)"
    fitted = _fit([text for _, text, _ in sections], [head for *_, head in sections], max_chars)
    return "\n".join(
        f"[{label}]\n{text}" for (label, _, _), text in zip(sections, fitted, strict=True)
    )


def _fit(texts: list[str], head_shares: list[float], budget: int) -> list[str]:
    """Cut the longest texts to a common length so that the total fits in `budget`."""
    sizes = [len(text) for text in texts]
    if sum(sizes) <= budget:
        return texts
    # The largest cap that fits: short texts stay whole, long ones share what is left.
    low, high = 0, max(sizes)
    while low < high:
        cap = (low + high + 1) // 2
        if sum(min(size, cap) for size in sizes) <= budget:
            low = cap
        else:
            high = cap - 1
    return [
        head_tail(text, low, share) if len(text) > low else text
        for text, share in zip(texts, head_shares, strict=True)
    ]


class RunPythonTool(SandboxTool):
    """The `run_python` tool over one sandbox session, for any LangChain agent.

    Args:
        sandbox: where the session comes from:
            - a started `Sandbox`: used as it is, on the event loop that calls the tool
              (`ainvoke`); you close it.
            - a `SyncSandbox`: for sync code (`invoke`) as well as async; you close it.
            - a `SandboxPool`, a `Sandbox` not started yet, or a factory
              (`lambda: open_sandbox("local")`): the session is started (or acquired) on
              first use, and `close()` / `aclose()` (or `with` / `async with`) closes it.
        max_output_chars: the size of the text the model gets back.
        max_timeout: the longest `timeout` the model may ask for a cell; None for no cap.

    Sync calls (`invoke`, sync agents) run on the session's own event loop in another
    thread: a sandbox session belongs to the loop that started it, so running it from a
    fresh `asyncio.run()` per call would break it (see `SandboxTool`). Cells of one tool
    run one at a time, in call order, because they share one interpreter.

    Example:
        ```python
        from langgraph.prebuilt import create_react_agent
        from runpad.sandbox import open_sandbox
        from runpad.tools import RunPythonTool

        async with RunPythonTool(lambda: open_sandbox("local")) as run_python:
            agent = create_react_agent("openai:gpt-4.1", [run_python])
            await agent.ainvoke({"messages": [("user", "What is 2**100?")]})
        ```
    """

    name: str = "run_python"
    description: str = RUN_PYTHON_DESCRIPTION
    args_schema: ArgsSchema | None = RunPythonInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"

    max_output_chars: int = Field(default=4000, ge=200)
    max_timeout: float | None = Field(default=600.0, gt=0)

    # -- the tool ---------------------------------------------------------------------------

    def _run(
        self,
        code: str,
        timeout: float | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str, dict[str, Any]]:
        execution = self._in_session_sync(lambda sandbox: self._run_cell(sandbox, code, timeout))
        return self._response(execution)

    async def _arun(
        self,
        code: str,
        timeout: float | None = None,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> tuple[str, dict[str, Any]]:
        execution = await self._in_session(lambda sandbox: self._run_cell(sandbox, code, timeout))
        return self._response(execution)

    def _response(self, execution: Execution) -> tuple[str, dict[str, Any]]:
        return format_execution(execution, self.max_output_chars), execution.to_dict()

    async def _run_cell(self, sandbox: Sandbox, code: str, timeout: float | None) -> Execution:
        if timeout is not None and self.max_timeout is not None:
            timeout = min(timeout, self.max_timeout)
        return await sandbox.run(code, timeout=timeout)
