"""The analysis graph's state (checkpointed, JSON-native) and its run Context (live objects).

State holds only plain data: every field survives a checkpoint round trip and a process
restart. Big things (images, data files, long outputs) stay out of it: they are artifacts
on disk, and the state keeps references and short previews. Everything live (models,
sandbox sessions, the record file) hangs off the Context, which is never checkpointed.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from langchain_core.language_models import BaseChatModel
from typing_extensions import TypedDict

from runpad.models import ModelSpec, ReplyRecorder, resolve_model
from runpad.sandbox.limits import Limits
from runpad.sandbox.manager import SandboxManager

__all__ = [
    "ROLES",
    "AnalysisState",
    "ApprovalDecision",
    "ArtifactRef",
    "CellDraft",
    "CellRecord",
    "Context",
    "ErrorInfo",
    "PlanStep",
    "Role",
    "RunLimits",
    "RunStatus",
    "StepKind",
]

Role = Literal["router", "planner", "coder", "reviewer", "reporter"]
ROLES: tuple[Role, ...] = ("router", "planner", "coder", "reviewer", "reporter")
StepKind = Literal["python", "sql", "dot", "search", "docs"]
RunStatus = Literal["running", "answered", "stopped", "rejected", "failed"]


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
    language: str


class CellRecord(TypedDict):
    """An executed cell, as the coder and reviewer see it later (outputs are previews)."""

    index: int
    step: int
    attempt: int
    language: str
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
    attempt: int  # tries of the current step so far
    replans: int
    draft: CellDraft | None
    feedback: str | None  # static check findings or reviewer notes for the coder
    failure_notes: list[str]  # why earlier plans failed, for the planner
    cells: Annotated[list[CellRecord], operator.add]
    model_calls: Annotated[dict[str, int], _merge_counts]  # per role, for replay
    tokens: Annotated[int, operator.add]
    answer: str | None
    status: RunStatus
    stop_reason: str | None


@dataclass(frozen=True)
class RunLimits:
    """Bounds of one run; a run that reaches one stops and says which.

    Attributes:
        max_attempts_per_step: cells (or rejected drafts) per plan step.
        max_cells: cells run in the whole run.
        max_replans: new plans after a step failed for good.
        max_wall_seconds: wall time of the run, from its first step.
        max_tokens: model tokens (prompt and reply) of the whole run.
        max_plan_steps: steps a plan may have.
    """

    max_attempts_per_step: int = 3
    max_cells: int = 20
    max_replans: int = 1
    max_wall_seconds: float = 900.0
    max_tokens: int = 200_000
    max_plan_steps: int = 6


@dataclass(frozen=True)
class Context:
    """The run's configuration and live dependencies, passed as the graph's context.

    Attributes:
        model: the model of every role without its own: a chat model, "local",
            "replay:PATH" or "provider:name" (see `runpad.models.resolve_model`).
        planner_model, coder_model, reviewer_model: per-role overrides.
        sandbox: the sandbox backend ("local", "docker", "e2b", "unsafe-local").
        sandbox_limits: resource limits of each sandbox session.
        limits: bounds of the run.
        approve: pause before every cell for a human to approve, edit or reject it.
        run_dir: where artifacts of the run are copied (a folder per thread under it).
        record: a file to record every model reply in (see docs/record-replay.md).
        prompts: per-role template text replacing the packaged prompt.
        sandboxes: the sandbox sessions of the run's threads; made from `sandbox` and
            `sandbox_limits` when not given. Whoever creates the Context closes it.
    """

    model: ModelSpec = None
    planner_model: ModelSpec = None
    coder_model: ModelSpec = None
    reviewer_model: ModelSpec = None
    sandbox: str = "local"
    sandbox_limits: Limits = field(default_factory=Limits)
    limits: RunLimits = field(default_factory=RunLimits)
    approve: bool = False
    run_dir: str = "runs"
    record: str | None = None
    prompts: dict[str, str] = field(default_factory=dict)
    sandboxes: SandboxManager | None = None

    def __post_init__(self) -> None:
        # Caches and defaults that are live objects: set once, never checkpointed.
        if self.sandboxes is None:
            object.__setattr__(
                self, "sandboxes", SandboxManager(self.sandbox, limits=self.sandbox_limits)
            )
        object.__setattr__(self, "_models", {})
        object.__setattr__(self, "_recorder", ReplyRecorder(self.record) if self.record else None)

    @property
    def sandbox_manager(self) -> SandboxManager:
        assert self.sandboxes is not None  # set in __post_init__
        return self.sandboxes

    @property
    def recorder(self) -> ReplyRecorder | None:
        recorder: ReplyRecorder | None = self.__dict__["_recorder"]
        return recorder

    def model_for(self, role: Role) -> BaseChatModel:
        """The resolved chat model of a role (resolved once per Context)."""
        spec: ModelSpec = {
            "planner": self.planner_model,
            "coder": self.coder_model,
            "reviewer": self.reviewer_model,
        }.get(role) or self.model
        cache: dict[Any, BaseChatModel] = self.__dict__["_models"]
        key = spec if isinstance(spec, str | None) else id(spec)
        if key not in cache:
            cache[key] = resolve_model(spec)
        return cache[key]
