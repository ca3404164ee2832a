"""Reporter: the final answer, with what the run produced, or why it stopped."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from runpad.agents.llm import ask
from runpad.context import Context
from runpad.prompts import render_prompt
from runpad.state import AnalysisState

__all__ = ["report"]


async def report(state: AnalysisState, runtime: Runtime[Context]) -> dict[str, Any]:
    status = state.get("status", "running")
    if status != "running":  # stopped or rejected: the reason is the report
        return {"status": status}
    if state.get("answer"):
        return {"status": "answered"}
    cells = state.get("cells", [])
    findings = state.get("findings", [])
    if not any(cell["ok"] for cell in cells) and not any(f["ok"] for f in findings):
        reason = "No cell succeeded, so there is no answer."
        failed_lookups = [f["text"] for f in findings if not f["ok"]]
        if failed_lookups and not cells:
            reason = f"Nothing was found, so there is no answer: {failed_lookups[-1]}"
        return {"status": "stopped", "stop_reason": reason}
    context = runtime.context
    prompt = render_prompt(
        "reporter",
        context.prompts_for("reporter"),
        task=state["task"],
        cells=cells,
        findings=findings,
    )
    reply = await ask("reporter", prompt, state, context)
    return {**reply.update, "answer": reply.text.strip() or None, "status": "answered"}
