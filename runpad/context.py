"""The run's Context: its settings and the live objects it opens (models, sandbox
sessions, database engines, the reply recorder).

The Context is the graph's `context_schema`: nodes read it through `Runtime[Context]`, and
it is never checkpointed (the state is, see `runpad.state`). A Context closes what it
opened, once, with `aclose()` or `async with`:

Example:
    ```python
    async with Context(model="local", databases={"shop": "sqlite:///shop.db"}) as context:
        result = await runpad.arun("Who are our best customers?", context=context)
    ```
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from langchain_core.language_models import BaseChatModel
from pydantic import ConfigDict, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from runpad.errors import ConfigurationError
from runpad.models import ModelSpec, ReplyRecorder, resolve_model
from runpad.models.local import LocalChatModel
from runpad.prompts import SMALL_MODEL_PROMPTS
from runpad.sandbox.factory import check_backend, open_sandbox
from runpad.sandbox.limits import Limits
from runpad.sandbox.manager import SandboxManager
from runpad.sql import SqlLimits
from runpad.state import Role
from runpad.tools.search import SearchProvider

if TYPE_CHECKING:
    from runpad.sql import SqlDatabase

__all__ = ["Context", "RunLimits"]


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
        sandbox: the sandbox backend (`runpad.sandbox.BACKENDS`: "local", "docker",
            "e2b", "ray", "unsafe-local"); checked when the Context is made.
        sandbox_limits: resource limits of each sandbox session.
        limits: bounds of the run.
        approve: pause before every cell for a human to approve, edit or reject it.
        run_dir: where artifacts of the run are copied (a folder per thread under it).
        record: a file to record every model reply in (see docs/record-replay.md).
        prompts: per-role template text replacing the packaged prompt (the embedded local
            model gets `runpad.prompts.SMALL_MODEL_PROMPTS` for the roles not given here).
        sandboxes: the sandbox sessions of the run's threads; made from `sandbox` and
            `sandbox_limits` when not given (and then closed by `aclose()`). A manager
            passed in belongs to the caller, who closes it.
        databases: SQL databases the run may query, name -> SQLAlchemy URL
            ("sqlite:///shop.db", "postgresql://user@host/db"). Read-only unless
            `allow_writes`; see docs/security.md.
        allow_writes: let SQL steps write to the databases (off: every write is refused).
        trust_role: in read-only mode, use a PostgreSQL role that can do more than read
            (superuser, owner, write grants, server-file roles) instead of refusing it.
        sql_allowed_functions: SQL functions to accept besides the built-in reads runpad
            knows ("name", or "schema.name").
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
        snapshot_max_mb: the largest snapshot of the kernel's variables saved after each
            Python or shell cell, so that a resume loads it instead of running every
            earlier cell again; 0 turns snapshots off (a resume replays every cell).
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
    trust_role: bool = False
    sql_allowed_functions: list[str] = field(default_factory=list)
    sql_limits: SqlLimits = field(default_factory=SqlLimits)
    search: Annotated[SearchProvider | None, SkipJsonSchema()] = None
    search_timeout: float = 10.0
    samples: int = 1
    sample_temperature: float = 0.7
    snapshot_max_mb: int = 64
    ray_address: str | None = None

    def __post_init__(self) -> None:
        # Settings that arrive as JSON (LangGraph's API server, Studio) carry the limits as
        # plain objects.
        if isinstance(self.limits, dict):
            object.__setattr__(self, "limits", RunLimits(**self.limits))
        if isinstance(self.sandbox_limits, dict):
            object.__setattr__(self, "sandbox_limits", Limits(**self.sandbox_limits))
        if isinstance(self.sql_limits, dict):
            object.__setattr__(self, "sql_limits", SqlLimits(**self.sql_limits))
        if self.snapshot_max_mb < 0:
            raise ConfigurationError(
                f"Context.snapshot_max_mb must be 0 (off) or more, not {self.snapshot_max_mb}."
            )
        if self.samples < 1:
            raise ConfigurationError(f"Context.samples must be at least 1, not {self.samples}.")
        check_backend(self.sandbox)  # a misspelt backend fails here, not at the first cell
        if self.databases:
            from runpad.sql import parse_database_url  # SQLAlchemy, only for runs with databases

            for url in self.databases.values():
                parse_database_url(url)  # a bad URL fails here, before the run starts
        # Caches and defaults that are live objects: set once, never checkpointed.
        object.__setattr__(self, "_owns_sandboxes", self.sandboxes is None)
        if self.sandboxes is None:
            options = {"address": self.ray_address} if self.sandbox == "ray" else {}
            manager = SandboxManager(
                self.sandbox,
                factory=lambda: open_sandbox(self.sandbox, limits=self.sandbox_limits, **options),
            )
            object.__setattr__(self, "sandboxes", manager)
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
            from runpad.sql import SqlDatabase

            cache[name] = SqlDatabase(
                self.databases[name],
                name=name,
                allow_writes=self.allow_writes,
                limits=self.sql_limits,
                trust_role=self.trust_role,
                allowed_functions=self.sql_allowed_functions,
            )
        return cache[name]

    async def aclose(self) -> None:
        """Close what this Context opened: the sandbox sessions of a manager it made, and
        the databases' connection pools. Safe to call more than once; the Context can be
        used again afterwards (it reopens what a later run needs)."""
        cache: dict[str, SqlDatabase] = self.__dict__["_databases"]
        databases = list(cache.values())
        cache.clear()
        try:
            if self.__dict__["_owns_sandboxes"]:
                await self.sandbox_manager.aclose()
        finally:
            # Disposing of a pool may wait on the network: not on the event loop.
            await asyncio.to_thread(_close_all, databases)

    async def __aenter__(self) -> Context:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _close_all(databases: list[SqlDatabase]) -> None:
    for database in databases:
        database.close()
