"""Runs as they are stored: `RunResult`, `RunSummary`, and reading them back cheaply.

`runpad threads`, `show` and `export` only read what a run left behind, so they must not pay
for importing LangGraph, LangChain and the sandbox (seconds, against a few milliseconds
for the read itself). This module imports none of them: it reads LangGraph's SQLite
checkpoint store (langgraph-checkpoint-sqlite's `checkpoints` and `writes` tables) with
`sqlite3` and decodes its msgpack blobs with `ormsgpack`, without reconstructing any
Python class the blobs name (no import, no code run: a checkpoint is data to read).

What it cannot read exactly (a PostgreSQL store, a pickled or otherwise unknown blob, a
write the graph has not folded into its state yet) raises `UnsupportedCheckpoint`; the
caller then asks LangGraph itself (`runpad.runner.aget_run` / `alist_runs`), which gives the
same answers. `tests/graph/test_runs.py` checks that both readers agree on real runs.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ormsgpack

from runpad.state import RunStatus

if TYPE_CHECKING:
    from runpad.events import ApprovalRequest
    from runpad.state import ArtifactRef, CellRecord, Finding, PlanStep, Verdict

__all__ = [
    "RunResult",
    "RunSummary",
    "UnsupportedCheckpoint",
    "list_sqlite_runs",
    "read_sqlite_run",
    "recorded_facts",
    "run_result",
    "sqlite_store",
]


@dataclass(frozen=True)
class RunResult:
    """How a run ended, and everything it produced."""

    thread_id: str
    status: RunStatus
    answer: str | None
    stop_reason: str | None
    plan: list[PlanStep] = field(default_factory=list)
    cells: list[CellRecord] = field(default_factory=list)
    artifacts: list[ArtifactRef] = field(default_factory=list)
    tokens: int = 0
    pending_approval: ApprovalRequest | None = None
    task: str = ""
    files: list[str] = field(default_factory=list)
    output_dir: str | None = None
    """The run's directory: its artifacts, answer.md, report.md, notebook.ipynb, run.json."""
    findings: list[Finding] = field(default_factory=list)
    """What the searcher found: web search results and documentation lookups."""
    verdicts: list[Verdict] = field(default_factory=list)
    """The reviewer's decision after each reviewed cell (repair, next step, replan...)."""
    model: str | None = None
    """The model that ran it (`runpad.models.describe_model`); None when not recorded."""
    sandbox: str | None = None
    """The sandbox backend of its cells; None when not recorded."""
    started_at: float | None = None
    """When its first step ran (epoch seconds)."""
    finished_at: float | None = None
    """When its last checkpoint was written (epoch seconds)."""

    @property
    def ok(self) -> bool:
        return self.status == "answered"


@dataclass(frozen=True)
class RunSummary:
    """One run of a checkpoint store, as `runpad threads` lists it."""

    thread_id: str
    status: RunStatus
    task: str
    cells: int
    created_at: datetime
    updated_at: datetime
    stop_reason: str | None = None
    """Why a run that did not answer stopped, as the run said it."""


def run_result(
    thread_id: str,
    values: Mapping[str, Any],
    *,
    pending: ApprovalRequest | None,
    output_dir: str | None,
    finished_at: float | None = None,
) -> RunResult:
    """A `RunResult` from a run's checkpointed state and its pending approval, if any.

    The one place that turns state into a result, whichever reader read the state.
    """
    status: RunStatus
    if pending is not None:
        status = "awaiting_approval"
    else:
        state_status = values.get("status", "failed")
        status = "failed" if state_status == "running" else state_status
    cells = values.get("cells", [])
    return RunResult(
        thread_id=thread_id,
        status=status,
        answer=values.get("answer"),
        stop_reason=values.get("stop_reason"),
        plan=values.get("plan", []),
        cells=cells,
        artifacts=[artifact for cell in cells for artifact in cell["artifacts"]],
        tokens=values.get("tokens", 0),
        pending_approval=pending,
        task=values.get("task", ""),
        files=values.get("files", []),
        output_dir=output_dir,
        findings=values.get("findings", []),
        verdicts=values.get("verdicts", []),
        started_at=values.get("started_at"),
        finished_at=finished_at,
    )


def recorded_facts(output_dir: Path) -> dict[str, Any]:
    """The model and sandbox the run recorded in its `run.json` (they are not in its state)."""
    try:
        recorded = json.loads((output_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(recorded, dict):
        return {}
    return {
        key: recorded[key] for key in ("model", "sandbox") if isinstance(recorded.get(key), str)
    }


# -- reading a SQLite checkpoint store without LangGraph ------------------------------------------


class UnsupportedCheckpoint(Exception):
    """This store or checkpoint cannot be read without LangGraph; ask LangGraph instead."""


def sqlite_store(checkpoints: str | None, run_dir: str | Path) -> Path | None:
    """The SQLite file a `--checkpoints` value names (default: `<run_dir>/checkpoints.sqlite`);
    None for a PostgreSQL URL, which only LangGraph's saver reads."""
    if checkpoints is None:
        return Path(run_dir) / "checkpoints.sqlite"
    if checkpoints.startswith(("postgres://", "postgresql://")):
        return None
    return Path(checkpoints)


def read_sqlite_run(thread_id: str, store: Path, run_dir: str | Path) -> RunResult | None:
    """The run as its latest checkpoint has it, or None when the store has no such run.

    Raises:
        UnsupportedCheckpoint: the checkpoint needs LangGraph to be read exactly.
    """
    with _connect(store) as connection:
        latest = _latest(connection, thread_id)
    if latest is None or not latest.values:
        return None
    output_dir = Path(run_dir) / thread_id
    result = run_result(
        thread_id,
        latest.values,
        pending=latest.pending,
        output_dir=str(output_dir),
        finished_at=latest.written_at.timestamp(),
    )
    return dataclasses.replace(result, **recorded_facts(output_dir))


def list_sqlite_runs(store: Path) -> list[RunSummary]:
    """Every run of the store, the most recently active first.

    Raises:
        UnsupportedCheckpoint: a checkpoint needs LangGraph to be read exactly.
    """
    summaries = []
    with _connect(store) as connection:
        # Checkpoint ids are time-ordered (uuid6): the first one is when the run began.
        try:
            spans = connection.execute(
                "SELECT thread_id, MIN(checkpoint_id) FROM checkpoints "
                "WHERE checkpoint_ns = '' GROUP BY thread_id"
            ).fetchall()
        except sqlite3.Error as exc:  # not a LangGraph store, or another version's tables
            raise UnsupportedCheckpoint(str(exc)) from exc
        for thread_id, first_id in spans:
            latest = _latest(connection, thread_id)
            if latest is None or not latest.values:
                continue
            result = run_result(
                thread_id,
                latest.values,
                pending=latest.pending,
                output_dir=None,
                finished_at=latest.written_at.timestamp(),
            )
            summaries.append(
                RunSummary(
                    thread_id=thread_id,
                    status=result.status,
                    task=result.task,
                    cells=len(result.cells),
                    created_at=_checkpoint_time(connection, thread_id, first_id),
                    updated_at=latest.written_at,
                    stop_reason=result.stop_reason,
                )
            )
    return sorted(summaries, key=lambda summary: summary.updated_at, reverse=True)


_INTERRUPT = "__interrupt__"
_NULL_TASK_ID = "00000000-0000-0000-0000-000000000000"  # langgraph's writes made outside a task


class _Connection:
    """A read-only connection, closed on exit (sqlite3's own context manager only commits)."""

    def __init__(self, store: Path) -> None:
        try:
            # mode=ro: reading must never create or change the store.
            self._connection = sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise UnsupportedCheckpoint(f"cannot open {store}: {exc}") from exc

    def __enter__(self) -> sqlite3.Connection:
        return self._connection

    def __exit__(self, *exc_info: object) -> None:
        self._connection.close()


def _connect(store: Path) -> _Connection:
    return _Connection(store)


@dataclass(frozen=True)
class _Checkpoint:
    values: dict[str, Any]
    """The state's channels (LangGraph's own channels left out)."""
    pending: ApprovalRequest | None
    """The approval the run waits for, if it does."""
    written_at: datetime


def _latest(connection: sqlite3.Connection, thread_id: str) -> _Checkpoint | None:
    """A thread's latest root checkpoint, as LangGraph's `get_state` has it."""
    try:
        row = connection.execute(
            "SELECT checkpoint_id, type, checkpoint FROM checkpoints "
            "WHERE thread_id = ? AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1",
            (thread_id,),
        ).fetchone()
        if row is None:
            return None
        checkpoint_id, kind, blob = row
        writes = connection.execute(
            "SELECT task_id, channel, type, value FROM writes WHERE thread_id = ? AND "
            "checkpoint_ns = '' AND checkpoint_id = ? ORDER BY task_id, idx",
            (thread_id, checkpoint_id),
        ).fetchall()
    except sqlite3.Error as exc:  # not a LangGraph store, or another version's tables
        raise UnsupportedCheckpoint(str(exc)) from exc
    checkpoint = _decode(kind, blob)
    channel_values = checkpoint.get("channel_values") if isinstance(checkpoint, dict) else None
    if not isinstance(channel_values, dict):
        raise UnsupportedCheckpoint("a checkpoint without inline channel values")
    # Channels that are not state keys ("__start__", "branch:to:coder") are LangGraph's own.
    values = {
        key: value
        for key, value in channel_values.items()
        if key.isidentifier() and not key.startswith("__")
    }
    pending = None
    for task_id, channel, write_kind, value in writes:
        if channel == _INTERRUPT:
            interrupts = _decode(write_kind, value)
            for interrupt in interrupts if isinstance(interrupts, list) else [interrupts]:
                if not isinstance(interrupt, dict) or "value" not in interrupt:
                    raise UnsupportedCheckpoint("an interrupt of an unknown shape")
                pending = interrupt["value"]
        elif task_id == _NULL_TASK_ID and channel in values:
            # LangGraph folds such a write into the state with the channel's reducer.
            raise UnsupportedCheckpoint(f"a pending write to {channel!r}")
    return _Checkpoint(values, pending, _time_stamp(checkpoint))


def _checkpoint_time(
    connection: sqlite3.Connection, thread_id: str, checkpoint_id: str
) -> datetime:
    kind, blob = connection.execute(
        "SELECT type, checkpoint FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' "
        "AND checkpoint_id = ?",
        (thread_id, checkpoint_id),
    ).fetchone()
    return _time_stamp(_decode(kind, blob))


def _time_stamp(checkpoint: Any) -> datetime:
    try:
        return datetime.fromisoformat(checkpoint["ts"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UnsupportedCheckpoint("a checkpoint without a time stamp") from exc


# langgraph.checkpoint.serde.jsonplus's msgpack extension codes: each carries
# (module, class name, data...). The data is read as plain values; nothing is imported.
_EXT_CONSTRUCTOR_SINGLE_ARG = 0
_EXT_CONSTRUCTOR_POS_ARGS = 1
_EXT_CONSTRUCTOR_KW_ARGS = 2
_EXT_METHOD_SINGLE_ARG = 3
_EXT_PYDANTIC_V1 = 4
_EXT_PYDANTIC_V2 = 5
_PLAIN_DATA_EXTENSIONS = frozenset(
    {
        _EXT_CONSTRUCTOR_SINGLE_ARG,
        _EXT_CONSTRUCTOR_POS_ARGS,
        _EXT_CONSTRUCTOR_KW_ARGS,
        _EXT_METHOD_SINGLE_ARG,
        _EXT_PYDANTIC_V1,
        _EXT_PYDANTIC_V2,
    }
)


def _decode(kind: str | None, blob: bytes | None) -> Any:
    if kind == "null" or blob is None:
        return None
    if kind != "msgpack":  # "pickle", "json", "bytes": rare, and LangGraph's business
        raise UnsupportedCheckpoint(f"a {kind!r} blob")
    try:
        return ormsgpack.unpackb(blob, ext_hook=_extension, option=ormsgpack.OPT_NON_STR_KEYS)
    except ormsgpack.MsgpackDecodeError as exc:
        if isinstance(exc.__cause__, UnsupportedCheckpoint):
            raise exc.__cause__ from None
        raise UnsupportedCheckpoint(f"an unreadable blob: {exc}") from exc


def _extension(code: int, data: bytes) -> Any:
    if code not in _PLAIN_DATA_EXTENSIONS:  # a numpy array, a delta channel's snapshot
        raise UnsupportedCheckpoint(f"msgpack extension {code}")
    parts = ormsgpack.unpackb(data, ext_hook=_extension, option=ormsgpack.OPT_NON_STR_KEYS)
    return parts[2]
