"""Voting: sample several programs for a step and keep the answer most of them print.

With `Context.samples` > 1, the coder writes a Python (or JavaScript or TypeScript) step's
cell `samples` times, each drawn independently (it sees the cells of earlier steps, never
those of its sibling samples), and each may be repaired like a single cell. A sample that
ran without error and printed something votes with the answer it printed
(`runpad.answers.answer_key`); one that failed for good abstains. The answer with the most
votes wins, ties going to the earliest sample (sample 0 is the model's own best guess).

Independent programs that agree are the evidence: where a model's mistakes scatter and
its correct programs coincide, the vote finds the correct answer that no single sample
reliably gives (self-consistency, Wang et al. 2022; program-aided voting as in PAL). So
the vote stands in for the reviewer's judgement of each cell. On the last step the winning
program's output is the answer; on an earlier one, the winner is run again when a later
sample with another answer ran after it, so that the session holds the winner's
variables for the next step.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from langgraph.config import get_stream_writer
from langgraph.types import Command

from runpad.agents.budget import give_up_on_step
from runpad.agents.steps import advance, decided, failed_for_good
from runpad.answers import answer_key
from runpad.context import Context
from runpad.events import VoteCast
from runpad.state import AnalysisState, CellRecord, Vote

__all__ = [
    "cell_output",
    "count_votes",
    "finish_sample",
    "give_up_on_try",
    "is_voting",
    "sample_cells",
    "sample_index",
    "tally",
    "winner_rerun_done",
]


def is_voting(state: AnalysisState, context: Context) -> bool:
    """Whether the current step is decided by a vote: several samples, a step whose cell
    runs in a kernel and prints its answer (Python, JavaScript or TypeScript)."""
    if context.samples < 2 or not state.get("plan"):
        return False
    step = state["plan"][state.get("step_index", 0)]
    return step["kind"] in ("python", "javascript", "typescript")


def sample_index(state: AnalysisState) -> int:
    """Which sample of the current step is being written (or repaired)."""
    return len(state.get("votes", []))


def sample_cells(state: AnalysisState) -> list[CellRecord]:
    """The cells the current sample may see: earlier steps', and its own tries; never
    a sibling sample's, so that every sample is drawn independently."""
    step = state.get("step_index", 0)
    votes = state.get("votes", [])
    ran = [vote["cell"] for vote in votes if vote["cell"] is not None]
    start = max(ran) + 1 if ran else 0
    return [
        cell for cell in state.get("cells", []) if cell["step"] != step or cell["index"] >= start
    ]


def cell_output(cell: CellRecord) -> str:
    """What a cell printed, then its result value, as one text."""
    return "\n".join(part for part in (cell["stdout"].strip(), cell["result"] or "") if part)


def tally(votes: list[Vote]) -> Vote | None:
    """The first vote for the answer with the most votes; None when all abstained."""
    counts = Counter(vote["key"] for vote in votes if vote["key"] is not None)
    if not counts:
        return None
    most = max(counts.values())
    return next(vote for vote in votes if vote["key"] is not None and counts[vote["key"]] == most)


def finish_sample(
    state: AnalysisState, context: Context, cell: CellRecord | None, **update: Any
) -> Command[Any]:
    """Record the current sample's vote (None abstains) and go on: the next sample, or the
    count once every sample is in."""
    key = answer_key(cell_output(cell)) if cell is not None and cell["ok"] else None
    last_cell = cell["index"] if cell is not None else _last_cell_of_sample(state)
    vote = Vote(sample=sample_index(state), cell=last_cell, key=key)
    votes = [*state.get("votes", []), vote]
    get_stream_writer()(
        VoteCast(
            type="vote", step=state.get("step_index", 0) + 1, sample=vote["sample"] + 1, key=key
        )
    )
    if len(votes) < context.samples:
        return Command(
            goto="coder",
            update={**update, "votes": votes, "attempt": 0, "feedback": None, "draft": None},
        )
    return count_votes(state, context, votes, **update)


def count_votes(
    state: AnalysisState, context: Context, votes: list[Vote], **update: Any
) -> Command[Any]:
    """Decide the step by the votes cast so far."""
    step_index = state.get("step_index", 0)
    winner = tally(votes)
    if winner is None:
        why = (
            f"None of the {len(votes)} programs sampled for step {step_index + 1} ran "
            "and printed a result."
        )
        command = give_up_on_step(state, context.limits, why, **update, votes=[])
        return decided(state, failed_for_good(command), command, why)
    assert winner["cell"] is not None  # a vote with a key ran a cell
    cells = state.get("cells", [])
    winning_cell = next(cell for cell in cells if cell["index"] == winner["cell"])
    update = {**update, "votes": votes, "feedback": None}
    if step_index + 1 >= len(state["plan"]):
        answer = cell_output(winning_cell)
        command = Command(goto="reporter", update={**update, "answer": answer})
        return decided(state, "done", command, f"the vote chose {winner['key']}")
    last_vote = next((vote for vote in votes if vote["cell"] == cells[-1]["index"]), None)
    if last_vote is None or last_vote["key"] != winner["key"]:
        # The last program to run printed another answer, and its variables are the
        # session's now: run the winner again.
        draft = {"code": winning_cell["code"], "language": winning_cell["language"]}
        command = Command(goto="executor", update={**update, "draft": draft})
        return decided(state, "rerun_winner", command, f"the vote chose {winner['key']}")
    return decided(state, "next_step", advance(state, update), f"the vote chose {winner['key']}")


def winner_rerun_done(state: AnalysisState, context: Context) -> bool:
    """Whether the cell that just ran is the winner's rerun (every sample has voted)."""
    return is_voting(state, context) and sample_index(state) >= context.samples


def give_up_on_try(state: AnalysisState, context: Context, why: str, **update: Any) -> Command[Any]:
    """The current try failed for good: with votes the sample abstains and the next one
    starts; otherwise the step failed (`give_up_on_step`)."""
    if is_voting(state, context):
        return finish_sample(state, context, None, **update)
    command = give_up_on_step(state, context.limits, why, **update)
    return decided(state, failed_for_good(command), command, why)


def _last_cell_of_sample(state: AnalysisState) -> int | None:
    step = state.get("step_index", 0)
    own = [cell for cell in sample_cells(state) if cell["step"] == step]
    return own[-1]["index"] if own else None
