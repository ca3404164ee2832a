"""The analysis graph's state: plain, JSON-native data, checkpointed after every node.

Every field survives a checkpoint round trip and a process restart. Big things (images,
data files, long outputs) stay out of it: they are artifacts on disk, and the state keeps
references and short previews. Everything live (models, sandbox sessions, database
engines) belongs to the run's `runpad.context.Context`, which is never checkpointed.
This module imports nothing of runpad's, so anything may read state without loading the
graph, the tools or the sandbox.
"""

from __future__ import annotations

import operator
from typing import Annotated, Literal

from typing_extensions import TypedDict

__all__ = [
    "ROLES",
    "AnalysisState",
    "ApprovalDecision",
    "ArtifactRef",
    "CellDraft",
    "CellLanguage",
    "CellRecord",
    "Decision",
    "ErrorInfo",
    "Finding",
    "PlanStep",
    "Role",
    "RunStatus",
    "SnapshotRef",
    "StepKind",
    "Verdict",
    "Vote",
    "WorkFile",
]

Role = Literal["router", "planner", "coder", "reviewer", "reporter"]
ROLES: tuple[Role, ...] = ("router", "planner", "coder", "reviewer", "reporter")
StepKind = Literal["python", "sql", "dot", "javascript", "typescript", "search", "docs"]
CellLanguage = Literal["python", "sql", "dot", "shell", "javascript", "typescript"]
"""python and shell run in the sandbox's Python kernel; javascript and typescript in its Deno
kernel (one per session, sharing the work dir); sql on the run's databases; dot in Graphviz."""
RunStatus = Literal["running", "answered", "stopped", "rejected", "failed", "awaiting_approval"]
"""Where a run stands. In the checkpointed state a run is "running" until it ends; a run's
result (`runpad.runner.RunResult`) reports "awaiting_approval" when it paused at an approval,
and a run that ended while still "running" (a crash) as "failed"."""


class PlanStep(TypedDict):
    """One step of the plan, with how we will know it worked."""

    description: str
    success_criterion: str
    kind: StepKind


class ErrorInfo(TypedDict):
    name: str
    value: str
    traceback: str


class ArtifactRef(TypedDict):
    """A file a cell produced, copied into the run directory."""

    name: str  # path in the sandbox work dir
    path: str  # where the copy lies on this machine
    mime_type: str
    size: int
    sha256: str
    cell: int


class CellDraft(TypedDict):
    """A cell the coder wrote that has not run yet."""

    code: str
    language: CellLanguage


class CellRecord(TypedDict):
    """An executed cell, as the coder and reviewer see it later (outputs are previews)."""

    index: int
    step: int
    attempt: int
    language: CellLanguage
    code: str
    stdout: str
    stderr: str
    result: str | None
    error: ErrorInfo | None
    ok: bool
    duration_ms: float
    timed_out: bool
    restarted: bool
    images: int
    artifacts: list[ArtifactRef]


class WorkFile(TypedDict):
    """A file of the sandbox work dir when a snapshot was taken."""

    name: str  # path relative to the work dir
    size: int
    sha256: str
    mode: int


class SnapshotRef(TypedDict):
    """The kernel's namespace after a cell, saved in the run folder (`runpad.agents.snapshot`).

    The file is a pickle made and loaded only inside the sandbox; the host copies it as
    bytes and checks it against `sha256`. A resume loads it and replays the later cells.
    """

    cell: int  # the index of the cell after which it was taken
    path: str  # where the file lies on this machine
    sha256: str
    size: int
    format: int
    python: str  # the kernel's interpreter, e.g. "CPython 3.11.7"
    cloudpickle: str
    runpad: str  # the runpad version that took it
    variables: list[str]
    files: list[WorkFile]  # the work dir then, restored from the run folder's copies
    directories: list[str]  # empty directories of the work dir


class Finding(TypedDict):
    """What the searcher found for a step: web results or API documentation, as text."""

    step: int
    kind: Literal["search", "docs"]
    query: str  # the search query, or the names looked up
    text: str  # the results as the coder reads them (a preview)
    ok: bool  # False: the lookup could not run (no network...) and `text` says why


class Vote(TypedDict):
    """One program sampled for a step (with its repairs), and the answer it printed."""

    sample: int  # 0 is the model's own setting; later ones are drawn at sample_temperature
    cell: int | None  # the index of the last cell it ran; None when it never ran
    key: str | None  # `runpad.answers.answer_key` of its output; None when it failed


Decision = Literal["done", "next_step", "repair", "replan", "stop", "rerun_winner"]
"""What follows a reviewed cell: the task is answered (done), the step is done and the
next one starts (next_step; after the last step the reporter writes the answer), the coder
fixes the cell (repair), the step failed for good and a new plan is made (replan) or the run
stops (stop), or the winning program of a vote runs again (rerun_winner)."""


class Verdict(TypedDict):
    """What the reviewer decided about a cell: streamed as the `verdict` event
    (`runpad.events`) and kept in the state for the reports."""

    type: Literal["verdict"]
    step: int  # from 1
    cell: int  # the reviewed cell's index
    decision: Decision
    notes: str | None  # why: the repair request, the failure, the reason to stop


class ApprovalDecision(TypedDict, total=False):
    """What a human answers at the approval interrupt."""

    action: Literal["approve", "edit", "reject"]
    code: str  # the edited cell, with "edit"
    reason: str  # why, with "reject"


def _merge_counts(left: dict[str, int], right: dict[str, int]) -> dict[str, int]:
    merged = dict(left)
    for key, value in right.items():
        merged[key] = merged.get(key, 0) + value
    return merged


class AnalysisState(TypedDict, total=False):
    """Everything the graph knows about one task; checkpointed after every node."""

    task: str
    files: list[str]  # host paths uploaded into the sandbox work dir
    started_at: float  # wall clock (epoch seconds) of the first step
    route: Literal["work", "answer"]
    plan: list[PlanStep]
    step_index: int
    attempt: int  # tries of the current step (with votes: of the current sample) so far
    replans: int
    draft: CellDraft | None
    feedback: str | None  # static check findings or reviewer notes for the coder
    failure_notes: list[str]  # why earlier plans failed, for the planner
    votes: list[Vote]  # the programs sampled for the current step (Context.samples > 1)
    cells: Annotated[list[CellRecord], operator.add]
    findings: Annotated[list[Finding], operator.add]  # web search and documentation lookups
    verdicts: Annotated[list[Verdict], operator.add]  # one per reviewed cell, for the reports
    model_calls: Annotated[dict[str, int], _merge_counts]  # per role, for replay
    tokens: Annotated[int, operator.add]
    answer: str | None
    status: RunStatus
    stop_reason: str | None
    snapshot: SnapshotRef | None  # the latest kernel snapshot (resume loads it)
    snapshot_note: str | None  # why cells after `snapshot` have none of their own
