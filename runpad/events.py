"""What a run tells its watchers while it goes on: the typed events of its "custom" stream.

The graph's nodes emit these through LangGraph's stream writer (`stream_mode="custom"`);
the live display, the Python API's `on_event`, Studio (through the LangGraph API server) and
any other consumer read the same shapes. Each event is a plain dict with a `type` key, so it
crosses JSON and the server unchanged; the TypedDicts here say what each one holds, and
`RunEvent` is their union, discriminated by `type`.

| type | emitted by | when |
|---|---|---|
| cell | executor | a cell starts: its code and language |
| check_skipped | static_check | a JavaScript/TypeScript cell runs unchecked (no Deno here) |
| stdout, stderr | executor | a cell's output, as it streams |
| artifact | executor | a file the cell made, copied into the run folder |
| session_restored | executor | a fresh sandbox session got the earlier cells' state back |
| snapshot_skipped | executor | the kernel's variables could not be snapshotted after a cell |
| search, docs, finding | searcher | a web search or API lookup starts, and what it found |
| vote | reviewer | a sampled program's vote (`Context.samples` > 1) |
| verdict | reviewer | what the reviewer decided about the cell that just ran |

The approval interrupt's payload is an `ApprovalRequest` (`RunResult.pending_approval`).
"""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict

# The verdict is also kept in the state (for the reports), so its type lives there.
from runpad.state import CellLanguage, Decision, Verdict
from runpad.text import one_line

__all__ = [
    "DECISION_WORDS",
    "ApprovalRequest",
    "ArtifactSaved",
    "CellOutput",
    "CellStarted",
    "CheckSkipped",
    "Decision",
    "DocsLookup",
    "FindingMade",
    "RunEvent",
    "SearchStarted",
    "SessionRestored",
    "SnapshotSkipped",
    "Verdict",
    "VoteCast",
    "verdict_line",
]


class CellStarted(TypedDict):
    type: Literal["cell"]
    index: int  # the cell's number in the run, from 1
    language: CellLanguage
    code: str


class CellOutput(TypedDict):
    type: Literal["stdout", "stderr"]
    cell: int
    text: str


class ArtifactSaved(TypedDict):
    """A file the cell made; the fields of `runpad.state.ArtifactRef`."""

    type: Literal["artifact"]
    cell: int
    name: str
    path: str
    mime_type: str
    size: int
    sha256: str


class SessionRestored(TypedDict):
    type: Literal["session_restored"]
    snapshot_cell: int | None  # the cell whose snapshot was loaded; None: none was
    replayed: int  # cells run again in the fresh session (after the snapshot, and Deno cells)
    failed: int  # of those, how many failed this time
    notice: str | None  # why a snapshot could not be used, when it could not
    message: str  # one line for people


class SnapshotSkipped(TypedDict):
    """No snapshot of the kernel after this cell: a resume will replay from the last one."""

    type: Literal["snapshot_skipped"]
    cell: int
    message: str  # why (a variable that cannot be pickled, over the size bound, ...)


class CheckSkipped(TypedDict):
    """The static check could not parse a cell (Deno is missing or did not answer); the
    cell runs unchecked, and the sandbox's kernel reports its errors."""

    type: Literal["check_skipped"]
    language: CellLanguage
    message: str  # why, and what to install


class SearchStarted(TypedDict):
    type: Literal["search"]
    step: int  # from 1
    query: str


class DocsLookup(TypedDict):
    type: Literal["docs"]
    step: int  # from 1
    names: list[str]


class FindingMade(TypedDict):
    """What a search or lookup found; the fields of `runpad.state.Finding`."""

    type: Literal["finding"]
    step: int  # from 0, as in the state
    kind: Literal["search", "docs"]
    query: str
    text: str
    ok: bool


class VoteCast(TypedDict):
    type: Literal["vote"]
    step: int  # from 1
    sample: int  # from 1
    key: str | None  # the answer it printed (`runpad.answers.answer_key`); None abstains


class ApprovalRequest(TypedDict):
    """The payload of the approval interrupt: the cell a person approves, edits or rejects."""

    type: Literal["approval"]
    code: str
    language: CellLanguage
    step: int  # from 1
    description: str  # the step's description


RunEvent = (
    CellStarted
    | CellOutput
    | ArtifactSaved
    | SessionRestored
    | SnapshotSkipped
    | CheckSkipped
    | SearchStarted
    | DocsLookup
    | FindingMade
    | VoteCast
    | Verdict
)
"""Every event of a run's "custom" stream."""


DECISION_WORDS: dict[Decision, str] = {
    "next_step": "step done",
    "done": "done",
    "repair": "repair",
    "replan": "new plan",
    "stop": "stopped",
    "rerun_winner": "re-run the vote's winner",
}
"""A decision in a word or two, as the reports label a cell's verdict."""


def verdict_line(verdict: Verdict) -> str | None:
    """The line a live watcher shows for a verdict (the terminal display, MCP progress).

    None for "stop": the run's status says why it stopped, whichever node stopped it.
    """
    decision, notes = verdict["decision"], verdict["notes"]
    if decision == "done":
        return "done: the output answers the task" + (f" ({notes})" if notes else "")
    if decision == "next_step":
        return f"step {verdict['step']} done"
    if decision == "repair":
        return f"repair: {one_line(notes or 'fix the error', 200)}"
    if decision == "replan":
        return f"new plan: {one_line(notes or 'the step failed', 200)}"
    if decision == "rerun_winner":
        return f"{notes}: running the winning program again"
    return None
