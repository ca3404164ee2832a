"""The analysis graph's state (checkpointed, JSON-native) and its run Context (live objects).

State holds only plain data: every field survives a checkpoint round trip and a process
restart. Big things (images, data files, long outputs) stay out of it: they are artifacts
on disk, and the state keeps references and short previews. Everything live (models,
sandbox sessions, the record file) hangs off the Context, which is never checkpointed.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from langchain_core.language_models import BaseChatModel
from pydantic import ConfigDict, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema
from typing_extensions import TypedDict

from runpad.errors import ConfigurationError
from runpad.models import ModelSpec, ReplyRecorder, resolve_model
from runpad.models.local import LocalChatModel
from runpad.prompts import SMALL_MODEL_PROMPTS
from runpad.sandbox.limits import Limits
from runpad.sandbox.manager import SandboxManager
from runpad.tools.search import SearchProvider
from runpad.tools.sql import SqlDatabase, SqlLimits, parse_database_url

__all__ = [
    "ROLES",
    "AnalysisState",
    "ApprovalDecision",
    "ArtifactRef",
    "CellDraft",
    "CellRecord",
    "Context",
    "ErrorInfo",
    "Finding",
    "PlanStep",
    "Role",
    "RunLimits",
    "RunStatus",
    "StepKind",
    "Vote",
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


_MODEL_FIELD = WithJsonSchema(
    {
        "type": ["string", "null"],
        "description": '"local", "replay:PATH" or "provider:model" (e.g. "openai:gpt-4.1"); '
        "empty: $RUNPAD_MODEL, else the embedded local model",
    }
)


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
        prompts: per-role template text replacing the packaged prompt (the embedded local
            model gets `runpad.prompts.SMALL_MODEL_PROMPTS` for the roles not given here).
        sandboxes: the sandbox sessions of the run's threads; made from `sandbox` and
            `sandbox_limits` when not given. Whoever creates the Context closes it.
        databases: SQL databases the run may query, name -> SQLAlchemy URL
            ("sqlite:///shop.db", "postgresql://user@host/db"). Read-only unless
            `allow_writes`; see docs/security.md.
        allow_writes: let SQL steps write to the databases (off: every write is refused).
        sql_limits: rows, time and schema-size bounds of SQL steps.
        search: a LangChain search tool or retriever for search steps; None uses ddgs
            (the `search` extra).
        search_timeout: seconds a web search may take before the run goes on without it.
        samples: programs the coder writes for each Python step. Above 1 they run one
            after another and vote: the answer most of them print wins, and the vote
            stands in for the reviewer's judgement (self-consistency; see
            docs/architecture.md). Each sample may be repaired like a single cell.
        sample_temperature: the sampling temperature of every sample after the first
            (the first uses the model's own setting).
    """

    # The context's JSON schema is the run's settings form in LangGraph Studio: a model field
    # shows as a string there (a chat model object works from Python), and the live sandbox
    # manager is left out of it (`graph.get_context_jsonschema()`).
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(arbitrary_types_allowed=True)

    model: Annotated[ModelSpec, _MODEL_FIELD] = None
    planner_model: Annotated[ModelSpec, _MODEL_FIELD] = None
    coder_model: Annotated[ModelSpec, _MODEL_FIELD] = None
    reviewer_model: Annotated[ModelSpec, _MODEL_FIELD] = None
    sandbox: str = "local"
    sandbox_limits: Limits = field(default_factory=Limits)
    limits: RunLimits = field(default_factory=RunLimits)
    approve: bool = False
    run_dir: str = "runs"
    record: str | None = None
    prompts: dict[str, str] = field(default_factory=dict)
    sandboxes: Annotated[SandboxManager | None, SkipJsonSchema()] = None
    databases: dict[str, str] = field(default_factory=dict)
    allow_writes: bool = False
    sql_limits: SqlLimits = field(default_factory=SqlLimits)
    search: Annotated[SearchProvider | None, SkipJsonSchema()] = None
    search_timeout: float = 10.0
    samples: int = 1
    sample_temperature: float = 0.7

    def __post_init__(self) -> None:
        # Settings that arrive as JSON (LangGraph's API server, Studio) carry the limits as
        # plain objects.
        if isinstance(self.limits, dict):
            object.__setattr__(self, "limits", RunLimits(**self.limits))
        if isinstance(self.sandbox_limits, dict):
            object.__setattr__(self, "sandbox_limits", Limits(**self.sandbox_limits))
        if isinstance(self.sql_limits, dict):
            object.__setattr__(self, "sql_limits", SqlLimits(**self.sql_limits))
        if self.samples < 1:
            raise ConfigurationError(f"Context.samples must be at least 1, not {self.samples}.")
        for url in self.databases.values():
            parse_database_url(url)  # a bad URL fails here, before the run starts
        # Caches and defaults that are live objects: set once, never checkpointed.
        if self.sandboxes is None:
            object.__setattr__(
                self, "sandboxes", SandboxManager(self.sandbox, limits=self.sandbox_limits)
            )
        object.__setattr__(self, "_models", {})
        object.__setattr__(self, "_recorder", ReplyRecorder(self.record) if self.record else None)
        object.__setattr__(self, "_databases", {})

    @property
    def sandbox_manager(self) -> SandboxManager:
        assert self.sandboxes is not None  # set in __post_init__
        return self.sandboxes

    @property
    def recorder(self) -> ReplyRecorder | None:
        recorder: ReplyRecorder | None = self.__dict__["_recorder"]
        return recorder

    def prompts_for(self, role: Role) -> Mapping[str, str]:
        """The template overrides a role's prompts render with: `prompts`, over the short
        `SMALL_MODEL_PROMPTS` when the role's model is an embedded model that takes them."""
        model = self.model_for(role)
        if isinstance(model, LocalChatModel) and model.embedded.prompts == "small":
            return {**SMALL_MODEL_PROMPTS, **self.prompts}
        return self.prompts

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

    def database(self, name: str) -> SqlDatabase:
        """The named database of `databases`, opened once per Context (engines are live)."""
        cache: dict[str, SqlDatabase] = self.__dict__["_databases"]
        if name not in cache:
            if name not in self.databases:
                known = ", ".join(self.databases) or "none"
                raise ConfigurationError(
                    f"No database named {name!r} in Context.databases (there are: {known})."
                )
            cache[name] = SqlDatabase(
                self.databases[name],
                name=name,
                allow_writes=self.allow_writes,
                limits=self.sql_limits,
            )
        return cache[name]

    def close_databases(self) -> None:
        """Close the connection pools of the databases this Context opened."""
        cache: dict[str, SqlDatabase] = self.__dict__["_databases"]
        for database in cache.values():
            database.close()
        cache.clear()
