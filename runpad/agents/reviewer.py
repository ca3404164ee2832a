"""Reviewer: judge the cell that just ran. Deterministic checks first, then the model.

The checks catch what needs no judgement (an error, no output at all, NaN in the output
the first time, the same failure twice); only a cell that passes them costs a model call.
"""

from __future__ import annotations

import re
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from runpad.agents.budget import give_up_on_step
from runpad.agents.llm import ask
from runpad.agents.parsing import parse_verdict
from runpad.agents.searcher import lookup_targets
from runpad.agents.steps import advance, decided, failed_for_good
from runpad.agents.voting import (
    cell_output,
    finish_sample,
    is_voting,
    sample_cells,
    winner_rerun_done,
)
from runpad.answers import answer_key
from runpad.context import Context
from runpad.prompts import SMALL_MODEL_PROMPTS, render_prompt
from runpad.state import AnalysisState, CellRecord

__all__ = ["copied_answer", "deterministic_findings", "review_cell"]

_NAN = re.compile(r"(?<![\w.])nan(?![\w.])", re.IGNORECASE)


def deterministic_findings(cell: CellRecord, previous: CellRecord | None = None) -> str | None:
    """What is surely wrong with a cell that ran without error, or None.

    NaN in the output is suspect once: when the cell before it in the step printed NaN too,
    the repair kept it on purpose (a median of no values is NaN), and the model judges.
    """
    if not (cell["stdout"].strip() or cell["result"] or cell["images"] or cell["artifacts"]):
        return "The cell printed nothing. Print the values the step computes."
    if _printed_nan(cell) and not (
        previous is not None and previous["step"] == cell["step"] and _printed_nan(previous)
    ):
        return "The output contains NaN: find where the missing values come from and handle them."
    return None


def _printed_nan(cell: CellRecord) -> bool:
    return cell["ok"] and bool(_NAN.search(cell_output(cell)))


def _same_failure(cell: CellRecord, previous: CellRecord | None) -> bool:
    if previous is None or previous["step"] != cell["step"] or previous["ok"]:
        return False
    if previous["code"].strip() == cell["code"].strip():
        return True
    old, new = previous["error"], cell["error"]
    return bool(old and new and (old["name"], old["value"]) == (new["name"], new["value"]))


Next = Literal["coder", "searcher", "planner", "executor", "reporter"]


async def review_cell(state: AnalysisState, runtime: Runtime[Context]) -> Command[Next]:
    context = runtime.context
    limits = context.limits
    cells = state["cells"]
    cell = cells[-1]
    previous = cells[-2] if len(cells) > 1 else None
    step_index = state.get("step_index", 0)
    attempt = state.get("attempt", 0) + 1
    if is_voting(state, context):
        return _review_sample(state, context, cell)

    def give_up(why: str, **update: object) -> Command[Next]:
        command = give_up_on_step(state, limits, why, **update)
        return decided(state, failed_for_good(command), command, why)

    def repair(notes: str | None, **update: object) -> Command[Next]:
        if attempt >= limits.max_attempts_per_step:
            detail = notes or _error_line(cell)
            why = f"Step {step_index + 1} failed {attempt} times; the last problem: {detail}"
            return give_up(why, attempt=attempt, **update)
        # A wrong attribute or call: the searcher looks the API up before the coder repairs.
        goto: Next = "searcher" if lookup_targets(state) else "coder"
        command: Command[Next] = Command(
            goto=goto, update={**update, "attempt": attempt, "feedback": notes}
        )
        return decided(state, "repair", command, notes or _error_line(cell))

    if not cell["ok"]:
        if _same_failure(cell, previous):
            why = f"The same failure happened twice in step {step_index + 1}: {_error_line(cell)}."
            return give_up(why, attempt=attempt)
        return repair(None)
    if finding := deterministic_findings(cell, previous):
        return repair(finding)
    if _same_success(cell, previous):
        # The coder re-sent a cell that already worked: asking again cannot change its
        # output, so the step is as done as it will get.
        return decided(state, "next_step", advance(state, {}))

    prompt = render_prompt(
        "reviewer",
        context.prompts_for("reviewer"),
        task=state["task"],
        plan=state["plan"],
        step_index=step_index,
        cell=cell,
    )
    reply = await ask("reviewer", prompt, state, context)
    verdict = parse_verdict(reply.text)
    if verdict.action == "done":
        answer, notes = verdict.answer, None
        if _asked_to_copy(context) and answer != (copied := copied_answer(answer, cell)):
            answer, notes = copied, "the reviewer's answer is not in the output; taken from it"
        command = Command(
            goto="reporter",
            update={**reply.update, "answer": answer, "status": "running"},
        )
        return decided(state, "done", command, notes)
    if verdict.action == "repair":
        return repair(verdict.notes or "The reviewer asked for a fix.", **reply.update)
    if verdict.action == "replan":
        why = verdict.notes or f"The reviewer found the plan unworkable at step {step_index + 1}."
        return give_up(why, **reply.update)
    return decided(state, "next_step", advance(state, reply.update))


def _review_sample(state: AnalysisState, context: Context, cell: CellRecord) -> Command[Next]:
    """A sample of a vote: repaired while it fails and has tries left, then it votes (or
    abstains); the model is not asked, the vote judges."""
    step_index = state.get("step_index", 0)
    if winner_rerun_done(state, context):
        if cell["ok"]:
            return decided(state, "next_step", advance(state, {}))
        why = f"The winning program of step {step_index + 1} failed when run again: "
        why += _error_line(cell)
        command = give_up_on_step(state, context.limits, why)
        return decided(state, failed_for_good(command), command, why)
    own = [c for c in sample_cells(state) if c["step"] == step_index]
    previous = own[-2] if len(own) > 1 else None
    problem = deterministic_findings(cell, previous) if cell["ok"] else _error_line(cell)
    if problem is None:
        return finish_sample(state, context, cell)
    attempt = state.get("attempt", 0) + 1
    if attempt >= context.limits.max_attempts_per_step or _same_failure(cell, previous):
        return finish_sample(state, context, None, attempt=attempt)
    feedback = problem if cell["ok"] else None  # an error reaches the coder as last_error
    command = Command(goto="coder", update={"attempt": attempt, "feedback": feedback})
    return decided(state, "repair", command, problem)


def copied_answer(answer: str | None, cell: CellRecord) -> str:
    """`answer` when it is one of the answers the cell printed, else the cell's output.

    Compared by `answer_key`, the rule the vote counts by: "The answer is 23." copies the
    line `23`; "orchestration" does not copy `noitartsehcro`, and neither does "3".
    """
    output = cell_output(cell)
    printed = {answer_key(line) for line in output.splitlines()} - {None}
    if answer is not None and answer_key(answer) in printed:
        return answer
    return output


def _asked_to_copy(context: Context) -> bool:
    """Whether the reviewer reads the short prompt, which tells it to copy the answer from
    the output. A small model sometimes miscopies it (answering `orchestration` for a
    program that printed `noitartsehcro`, or 3 for 23); the full prompt lets a model
    restate or convert an answer, so there the reply stands as it is."""
    return context.prompts_for("reviewer").get("reviewer") == SMALL_MODEL_PROMPTS["reviewer"]


def _same_success(cell: CellRecord, previous: CellRecord | None) -> bool:
    return bool(
        previous
        and previous["ok"]
        and previous["step"] == cell["step"]
        and previous["code"].strip() == cell["code"].strip()
    )


def _error_line(cell: CellRecord) -> str:
    error = cell["error"]
    return f"{error['name']}: {error['value']}" if error else "no usable output"
