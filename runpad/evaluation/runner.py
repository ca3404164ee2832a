"""Run a suite in one of three modes and score every task with the suite's own checker.

- **code**: each task goes through the whole analysis graph (`runpad.arun` with a
  Context): route, plan, write, check, run, review, repair, report.
- **no-code**: the same model gets the same question once and answers directly; the
  reply goes through the same answer extraction and checker.
- **oracle**: the whole graph again, with scripted models whose coder writes the task's
  oracle cell (its reference solution, or a print of the gold answer where the benchmark
  has no solution) and whose reviewer reads the answer back from the executed output.
  Every part of the harness between a cell and its score runs as in code mode, so the
  oracle must score 100%; a task whose reference is known to be wrong is excluded, with
  its reason in the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import platform
import random
import re
import secrets
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langgraph.checkpoint.base import BaseCheckpointSaver

from runpad import __version__
from runpad.agents.parsing import extract_code
from runpad.agents.voting import cell_output
from runpad.bridge import run_sync
from runpad.cluster import BatchTask, TaskOutcome, batch
from runpad.context import Context, RunLimits
from runpad.errors import ConfigurationError, SandboxStartError
from runpad.evaluation.checkers import Check, result_sets_match, run_sqlite
from runpad.evaluation.report import EvalReport, Mode, TaskResult, markdown_table, summarize
from runpad.evaluation.suites import (
    ORACLE_MARKER,
    EvalTask,
    Suite,
    benchmarks_dir,
    get_suite,
    sql_alternatives,
)
from runpad.models import FunctionChatModel, ModelSpec, describe_model, resolve_model
from runpad.models.function import estimate_tokens
from runpad.runner import RunResult, aget_run, arun, open_checkpointer
from runpad.sandbox.factory import open_sandbox
from runpad.sandbox.limits import Limits
from runpad.sandbox.manager import SandboxManager
from runpad.state import CellRecord

__all__ = [
    "EVAL_LIMITS",
    "MODES",
    "EvalSettings",
    "ProgressHandler",
    "evaluate",
    "graph_has_sql_tool",
    "select_tasks",
]

logger = logging.getLogger(__name__)

START_ATTEMPTS = 2
"""Tries of a task whose sandbox kernel did not start (a loaded machine, not the task)."""

MODES: tuple[Mode, ...] = ("code", "no-code", "oracle")

EVAL_LIMITS = RunLimits(
    max_attempts_per_step=3,
    max_cells=8,
    max_replans=1,
    max_wall_seconds=300.0,
    max_tokens=40_000,
    max_plan_steps=4,
)
"""Bounds of each task's run: tighter than an interactive run's, so a suite ends."""

ProgressHandler = Callable[[EvalTask, TaskResult], None]

DIRECT_SYSTEM = "You are a careful assistant. Answer the question directly, without running code."
DIRECT_INSTRUCTIONS = {
    "answer": "Think briefly if you need to, then end your reply with one line of the form:\n"
    "ANSWER: <the final answer>",
    "program": "Reply with the complete code in one ```python block.",
    "sql": "Reply with the query in one ```sql block.",
}
ORACLE_PLAN = "1. Run the reference solution and print its answer | check: the answer is printed"
ORACLE_SQL_PLAN = "1. [sql] Run the reference SQL query | check: the rows are shown"
_ORACLE_LINE = re.compile(rf"^{re.escape(ORACLE_MARKER)} ?(?P<answer>.*)$", re.MULTILINE)


@dataclass(frozen=True)
class EvalSettings:
    """How to run a suite.

    Attributes:
        model: the model of code and no-code modes (see `runpad.models.resolve_model`).
        mode: "code", "no-code" or "oracle".
        limit: run at most this many tasks, drawn with `seed` (all when None).
        seed: the sample's seed, also the local model's sampling seed.
        out_dir: where results, run artifacts and checkpoints go (none kept when None).
        benchmarks: the benchmarks folder (see `runpad.evaluation.suites.benchmarks_dir`).
        limits: bounds of each task's run.
        sandbox: the sandbox backend.
        sandbox_limits: limits of each sandbox session (the cell timeout among them).
        test_timeout: seconds for a program suite's unit tests.
        task_ids: run only these tasks (`limit` then samples among them), for reruns.
        samples: programs sampled per Python step in code mode, voting on their printed
            answers (`Context.samples`; 1: no vote).
        cluster: run each task as a Ray task on this cluster ("auto", "HOST:PORT",
            "local"), through `runpad.batch` (the path of `runpad batch`: stable thread ids,
            retries on lost nodes, resume); None runs them here, one after another.
        checkpoints: with `cluster`, the checkpoint store (a PostgreSQL URL on more than
            one node; default: SQLite under `out_dir`).
    """

    model: ModelSpec = None
    mode: Mode = "code"
    limit: int | None = None
    seed: int = 0
    out_dir: Path | None = None
    benchmarks: Path | None = None
    limits: RunLimits = EVAL_LIMITS
    sandbox: str = "local"
    # A loaded machine can take longer than the default 30 s to start a kernel.
    sandbox_limits: Limits = field(default_factory=lambda: Limits(timeout=60.0, start_timeout=90.0))
    test_timeout: float = 30.0
    task_ids: Sequence[str] = ()
    samples: int = 1
    cluster: str | None = None
    checkpoints: str | None = None


def select_tasks(
    tasks: list[EvalTask], limit: int | None, seed: int, task_ids: Sequence[str] = ()
) -> list[EvalTask]:
    """A seeded sample of `limit` tasks, kept in suite order (all tasks without a limit)."""
    if task_ids:
        wanted = set(task_ids)
        unknown = wanted - {task.id for task in tasks}
        if unknown:
            raise ConfigurationError(f"No such task(s) in the suite: {', '.join(sorted(unknown))}")
        tasks = [task for task in tasks if task.id in wanted]
    if limit is None or limit >= len(tasks):
        return list(tasks)
    if limit < 1:
        raise ConfigurationError(f"--limit must be at least 1, got {limit}.")
    chosen = set(random.Random(seed).sample(range(len(tasks)), limit))
    return [task for index, task in enumerate(tasks) if index in chosen]


async def evaluate(
    suite_name: str,
    settings: EvalSettings | None = None,
    *,
    on_task: ProgressHandler | None = None,
    on_start: Callable[[int], None] | None = None,
) -> EvalReport:
    """Run a suite and score it; writes `results.json` and `results.md` under `out_dir`.

    Example:
        ```python
        report = await evaluate("tiny", EvalSettings(mode="oracle", limit=3))
        print(report.summary.accuracy)
        ```
    """
    settings = settings or EvalSettings()
    if settings.mode not in MODES:
        raise ConfigurationError(f"Unknown mode {settings.mode!r}; choose one of {MODES}.")
    suite = get_suite(suite_name)
    data = await asyncio.to_thread(suite.load, benchmarks_dir(settings.benchmarks))
    tasks = select_tasks(data.tasks, settings.limit, settings.seed, settings.task_ids)
    if suite.kind == "sql" and settings.mode != "no-code":
        _sql_settings("probe")  # fail before any work when the graph has no SQL tool
    if settings.samples > 1 and (suite.kind != "answer" or settings.mode != "code"):
        raise ConfigurationError(
            f"--samples votes on the answers programs print, in code mode on answer suites; "
            f"{suite.name} in {settings.mode} mode is scored by "
            f"{'its program or query' if suite.kind != 'answer' else 'one reply'}, not a "
            "printed answer. Leave --samples at 1 here."
        )
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    model = None if settings.mode == "oracle" else _model(settings)
    if on_start is not None:
        on_start(len(tasks))
    results: list[TaskResult] = []
    if settings.cluster is not None:
        results = await asyncio.to_thread(_evaluate_on_cluster, suite, tasks, settings, on_task)
    else:
        async with _workspace(settings) as (saver, manager, run_dir):
            for task in tasks:
                result = await _evaluate_task(suite, task, settings, model, saver, manager, run_dir)
                results.append(result)
                if on_task is not None:
                    on_task(task, result)
    report = EvalReport(
        suite=suite.name,
        mode=settings.mode,
        model="oracle" if settings.mode == "oracle" else describe_model(settings.model),
        tasks_in_suite=len(data.tasks),
        limit=settings.limit,
        seed=settings.seed,
        started=started,
        machine=_machine(),
        runpad_version=__version__,
        results=results,
        summary=summarize(results),
        skipped=data.skipped,
        oracle_kind=suite.oracle_kind if settings.mode == "oracle" else None,
        settings={
            "limits": dataclasses.asdict(settings.limits),
            "sandbox": settings.sandbox,
            "cell_timeout_s": settings.sandbox_limits.timeout,
            "test_timeout_s": settings.test_timeout,
            "samples": settings.samples,
        },
    )
    if settings.out_dir is not None:
        out = Path(settings.out_dir)
        await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread((out / "results.json").write_text, report.to_json())
        await asyncio.to_thread((out / "results.md").write_text, markdown_table(report))
    return report


def _machine() -> str:
    python = platform.python_version()
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {python}"


def _model(settings: EvalSettings) -> BaseChatModel:
    spec = settings.model
    if isinstance(spec, str) and (spec == "local" or spec.startswith("local:")):
        from runpad.models.resolve import local_chat_model

        # Weights checked now, not at the first task; the run's seed is the model's.
        return local_chat_model(spec.removeprefix("local").removeprefix(":"), seed=settings.seed)
    return resolve_model(spec)


@contextlib.asynccontextmanager
async def _workspace(
    settings: EvalSettings,
) -> AsyncIterator[tuple[BaseCheckpointSaver[Any], SandboxManager, Path]]:
    """The checkpoint store, the sandbox sessions and the run folder every task shares."""
    with contextlib.ExitStack() as stack:
        if settings.out_dir is not None:
            base = Path(settings.out_dir)
        else:
            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="runpad-eval-")))
        manager = SandboxManager(settings.sandbox, limits=settings.sandbox_limits)
        try:
            async with open_checkpointer(base / "checkpoints.sqlite", base) as saver:
                yield saver, manager, base / "runs"
        finally:
            await manager.aclose()


async def _evaluate_task(
    suite: Suite,
    task: EvalTask,
    settings: EvalSettings,
    model: BaseChatModel | None,
    saver: BaseCheckpointSaver[Any],
    manager: SandboxManager,
    run_dir: Path,
) -> TaskResult:
    started = time.monotonic()
    if (excluded := _excluded(task, settings)) is not None:
        return excluded
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            outcome = await _outcome(suite, task, settings, model, saver, manager, run_dir)
            check = await _check(suite, task, outcome, settings)
            break
        except Exception as exc:  # one broken task must not end a long evaluation
            if isinstance(exc, SandboxStartError) and attempt < START_ATTEMPTS:
                # A kernel that did not start is the machine's trouble, not the task's.
                logger.warning("Task %s: the sandbox did not start; trying again", task.id)
                continue
            logger.warning("Task %s failed in the harness", task.id, exc_info=True)
            return TaskResult(
                id=task.id,
                correct=False,
                expected=task.expected,
                status="error",
                error=f"{type(exc).__name__}: {exc}",
                wall_s=round(time.monotonic() - started, 3),
            )
    return _scored(suite, task, settings, outcome, check, time.monotonic() - started)


def _excluded(task: EvalTask, settings: EvalSettings) -> TaskResult | None:
    """Oracle mode: the result of a task whose reference is known not to score."""
    if settings.mode != "oracle":
        return None
    reason = task.oracle_exclusion
    if reason is None and task.oracle is None:
        reason = "the benchmark has no reference for this task"
    if reason is None:
        return None
    return TaskResult(
        id=task.id, correct=False, expected=task.expected, excluded=reason, status="excluded"
    )


def _scored(
    suite: Suite,
    task: EvalTask,
    settings: EvalSettings,
    outcome: _Outcome,
    check: Check,
    wall_s: float,
) -> TaskResult:
    return TaskResult(
        id=task.id,
        correct=check.correct,
        expected=task.expected,
        answer=outcome.answer,
        extracted=check.extracted,
        detail=check.detail,
        status=outcome.status,
        stop_reason=outcome.stop_reason,
        cells=len(outcome.cells),
        repairs=outcome.repairs,
        first_attempt=check.correct
        and outcome.repairs == 0
        and all(cell["ok"] for cell in outcome.cells),
        tokens=outcome.tokens,
        wall_s=round(wall_s, 3),
        sandbox_s=round(sum(cell["duration_ms"] for cell in outcome.cells) / 1000, 3),
        thread_id=outcome.thread_id,
        printed_correct=_printed_correct(suite, task, outcome, settings),
    )


def _evaluate_on_cluster(
    suite: Suite,
    tasks: list[EvalTask],
    settings: EvalSettings,
    on_task: ProgressHandler | None,
) -> list[TaskResult]:
    """Every task as a Ray task through `runpad.batch`; each finished run is read back from
    the checkpoints and scored here, by the same checkers."""
    assert settings.cluster is not None
    if settings.mode == "no-code":
        raise ConfigurationError(
            "--cluster runs each task's graph run on the cluster; no-code mode makes one "
            "direct model call per task and has no run to place: leave --cluster out."
        )
    results: dict[str, TaskResult] = {}
    by_batch_id: dict[str, EvalTask] = {}
    batch_tasks: list[BatchTask] = []
    with contextlib.ExitStack() as stack:
        if settings.out_dir is not None:
            base = Path(settings.out_dir).resolve()
        else:
            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="runpad-eval-")))
        run_dir = base / "runs"
        store = settings.checkpoints or str(run_dir / "checkpoints.sqlite")
        for task in tasks:
            if (excluded := _excluded(task, settings)) is not None:
                results[task.id] = excluded
                continue
            batch_task = _batch_task(suite, task, settings, len(batch_tasks) + 1)
            by_batch_id[batch_task.id] = task
            batch_tasks.append(batch_task)

        def scored(outcome: TaskOutcome) -> None:
            task = by_batch_id[outcome.id]
            if outcome.status == "error":
                result = TaskResult(
                    id=task.id,
                    correct=False,
                    expected=task.expected,
                    status="error",
                    error=outcome.error,
                    wall_s=outcome.wall_s,
                )
            else:
                run = run_sync(aget_run(outcome.thread_id, checkpointer=store, run_dir=run_dir))
                found = _from_run(suite, run)
                check = run_sync(_check(suite, task, found, settings))
                result = _scored(suite, task, settings, found, check, outcome.wall_s)
            results[task.id] = result
            if on_task is not None:
                on_task(task, result)

        if batch_tasks:
            batch(
                batch_tasks,
                batch_id=f"eval-{suite.name}-{settings.mode}-{settings.seed}",
                cluster=settings.cluster,
                checkpoints=store,
                out=run_dir,
                on_task=scored,
            )
        for task in tasks:  # the excluded ones, reported like the in-process loop does
            if on_task is not None and results[task.id].status == "excluded":
                on_task(task, results[task.id])
    return [results[task.id] for task in tasks]


def _batch_task(suite: Suite, task: EvalTask, settings: EvalSettings, line: int) -> BatchTask:
    """The eval task as a batch task: the same Context settings as `_context` gives."""
    run_settings: dict[str, Any] = {
        "sandbox": settings.sandbox,
        "sandbox_limits": settings.sandbox_limits,
        "limits": settings.limits,
    }
    databases: dict[str, str] = {}
    if suite.kind == "sql":
        assert task.database is not None
        databases = _sql_settings(task.database)["databases"]
    if settings.mode == "oracle":
        # The scripted models are made where the task runs (a chat model holds locks, and
        # does not travel).
        assert task.oracle is not None
        run_settings.update(
            model_factory=f"{__name__}:oracle_role_models",
            model_factory_args={
                "suite": suite.name,
                "oracle": task.oracle,
                "language": task.oracle_language,
            },
        )
    else:
        if not isinstance(settings.model, str | None):
            raise ConfigurationError(
                "With --cluster the model is made on each node: give it as a string "
                "('provider:model', 'local', 'replay:PATH'), not as an object."
            )
        run_settings.update(model=settings.model, samples=settings.samples)
    # Thread ids take letters, digits, "_", "." and "-"; the line keeps them unique.
    identifier = f"{re.sub(r'[^A-Za-z0-9_.-]', '-', task.id)[:48]}-{line}"
    return BatchTask.of(
        task.prompt,
        identifier,
        line=line,
        files=tuple(str(Path(f).resolve()) for f in task.files),
        databases=databases,
        settings=run_settings,
    )


def _printed_correct(
    suite: Suite, task: EvalTask, outcome: _Outcome, settings: EvalSettings
) -> bool | None:
    """Whether some successful cell printed a correct answer (code mode, answer suites)."""
    if settings.mode != "code" or suite.kind != "answer":
        return None
    assert suite.check_answer is not None
    return any(
        suite.check_answer(cell_output(cell), task).correct
        for cell in outcome.cells
        if cell["ok"] and cell_output(cell)
    )


async def _outcome(
    suite: Suite,
    task: EvalTask,
    settings: EvalSettings,
    model: BaseChatModel | None,
    saver: BaseCheckpointSaver[Any],
    manager: SandboxManager,
    run_dir: Path,
) -> _Outcome:
    """Run the task in the settings' mode: one direct answer, or a whole graph run."""
    if settings.mode == "no-code":
        assert model is not None
        return await _direct(suite, task, model)
    context = _context(suite, task, settings, model, manager, run_dir)
    thread_id = f"{task.id.replace('/', '-')}-{secrets.token_hex(3)}"
    try:
        run = await arun(
            task.prompt, files=task.files, thread_id=thread_id, context=context, checkpointer=saver
        )
    finally:
        await manager.discard(thread_id)
        await context.aclose()  # its database engines; the shared manager stays open
    return _from_run(suite, run)


@dataclass(frozen=True)
class _Outcome:
    """What a task's run produced, in the form the checkers read."""

    answer: str | None
    status: str
    tokens: int
    cells: list[CellRecord] = field(default_factory=list)
    stop_reason: str | None = None
    thread_id: str | None = None
    program: str | None = None  # program suites: the code to test
    query: str | None = None  # sql suites: the query to compare

    @property
    def repairs(self) -> int:
        """Cells that re-tried a step: the step's attempt counter was past its first."""
        return sum(cell["attempt"] > 0 for cell in self.cells)


def _from_run(suite: Suite, run: RunResult) -> _Outcome:
    succeeded = [cell for cell in run.cells if cell["ok"]]
    program = "\n\n".join(c["code"] for c in succeeded if c["language"] == "python") or None
    queries = [c["code"] for c in succeeded if c["language"] == "sql"]
    answer = run.answer
    if suite.kind == "program":
        answer = program
    elif suite.kind == "sql":
        answer = queries[-1] if queries else None
    return _Outcome(
        answer=answer,
        status=run.status,
        tokens=run.tokens,
        cells=run.cells,
        stop_reason=run.stop_reason,
        thread_id=run.thread_id,
        program=program,
        query=queries[-1] if queries else None,
    )


async def _direct(suite: Suite, task: EvalTask, model: BaseChatModel) -> _Outcome:
    """No-code mode: one call to the model, the same extraction as a graph run."""
    prompt = f"{task.prompt}\n\n{DIRECT_INSTRUCTIONS[suite.kind]}"
    message = await model.ainvoke([SystemMessage(DIRECT_SYSTEM), HumanMessage(prompt)])
    text = message.text
    metadata = getattr(message, "usage_metadata", None)
    tokens = (
        metadata["total_tokens"]
        if metadata and metadata.get("total_tokens")
        else estimate_tokens(DIRECT_SYSTEM + prompt) + estimate_tokens(text)
    )
    if suite.kind == "answer":
        return _Outcome(answer=text, status="direct", tokens=tokens)
    language = "python" if suite.kind == "program" else "sql"
    code = extract_code(text, language)
    return _Outcome(
        answer=code,
        status="direct",
        tokens=tokens,
        program=code if suite.kind == "program" else None,
        query=code if suite.kind == "sql" else None,
    )


def _context(
    suite: Suite,
    task: EvalTask,
    settings: EvalSettings,
    model: BaseChatModel | None,
    manager: SandboxManager,
    run_dir: Path,
) -> Context:
    common: dict[str, Any] = {
        "sandbox": settings.sandbox,
        "sandbox_limits": settings.sandbox_limits,
        "limits": settings.limits,
        "run_dir": str(run_dir),
        "sandboxes": manager,
    }
    if suite.kind == "sql":
        assert task.database is not None
        common.update(_sql_settings(task.database))
    if settings.mode == "oracle":
        roles = oracle_models(task, suite)
        return Context(
            model=roles.default,
            planner_model=roles.planner,
            coder_model=roles.coder,
            reviewer_model=roles.reviewer,
            **common,
        )
    return Context(model=model, samples=settings.samples, **common)


def graph_has_sql_tool() -> bool:
    """Can a run be given databases (`Context.databases`) for its SQL steps?"""
    return "databases" in {f.name for f in dataclasses.fields(Context)}


def _sql_settings(database: str) -> dict[str, Any]:
    """Context settings that give a run the task's database, through the graph's SQL tool."""
    if not graph_has_sql_tool():
        raise ConfigurationError(
            "The sql_defog suite needs the SQL tool in the analysis graph "
            "(Context.databases), which this runpad does not have yet. Its checker "
            "(`result_sets_match`) is ready, and `--mode no-code` runs it today."
        )
    return {"databases": {Path(database).stem: f"sqlite:///{database}"}}


def _oracle_answer(messages: list[BaseMessage]) -> str | None:
    """The answer the oracle cell printed, as the reviewer sees it in the cell's output."""
    found = _ORACLE_LINE.findall(messages[-1].text)
    return found[-1].strip() if found else None


class OracleModels(NamedTuple):
    """The oracle's scripted models: the default (router, reporter) and one per role."""

    default: BaseChatModel
    planner: BaseChatModel
    coder: BaseChatModel
    reviewer: BaseChatModel


def oracle_models(task: EvalTask, suite: Suite) -> OracleModels:
    """Scripted models for oracle mode, one per role.

    The coder writes the oracle cell; the reviewer copies the answer line from the
    executed output into its verdict (as a perfect reviewer would), or asks for a repair
    when the line is missing; the router always routes to code.
    """
    assert task.oracle is not None
    return _oracle_models(suite, task.oracle, task.oracle_language)


def oracle_role_models(suite: str, oracle: str, language: str) -> dict[str, BaseChatModel]:
    """`oracle_models` as a batch task's `model_factory`: made where the task runs."""
    roles = _oracle_models(get_suite(suite), oracle, language)
    return {
        "model": roles.default,
        "planner_model": roles.planner,
        "coder_model": roles.coder,
        "reviewer_model": roles.reviewer,
    }


def _oracle_models(suite: Suite, oracle: str, language: str) -> OracleModels:
    cell = f"```{language}\n{oracle}\n```"
    plan = ORACLE_SQL_PLAN if language == "sql" else ORACLE_PLAN

    def review(messages: list[BaseMessage]) -> str:
        if suite.kind != "answer":  # the program or query itself is scored
            return "VERDICT: done\nANSWER: see the executed cell"
        answer = _oracle_answer(messages)
        if answer is None:
            return "VERDICT: repair\nNOTES: the output has no oracle answer line"
        return f"VERDICT: done\nANSWER: {answer}"

    def route_or_report(messages: list[BaseMessage]) -> str:
        # Router and reporter share the default model; only the reporter sees output.
        return _oracle_answer(messages) or "ROUTE: code"

    return OracleModels(
        default=FunctionChatModel(respond=route_or_report),
        planner=FunctionChatModel(respond=lambda _: plan),
        coder=FunctionChatModel(respond=lambda _: cell),
        reviewer=FunctionChatModel(respond=review),
    )


async def _check(suite: Suite, task: EvalTask, outcome: _Outcome, settings: EvalSettings) -> Check:
    if suite.kind == "answer":
        assert suite.check_answer is not None
        return suite.check_answer(outcome.answer, task)
    if suite.kind == "program":
        return await _test_program(task, outcome.program, settings)
    return await asyncio.to_thread(check_query, task, outcome.query)


async def _test_program(task: EvalTask, program: str | None, settings: EvalSettings) -> Check:
    """Run the program, then the task's unit tests, in a fresh sandbox session."""
    if not program:
        return Check(False, None, "no program")
    assert task.tests is not None
    limits = dataclasses.replace(settings.sandbox_limits, timeout=settings.test_timeout)
    async with open_sandbox(settings.sandbox, limits=limits) as sandbox:
        defined = await sandbox.run(program)
        if not defined.ok:
            error = defined.error
            assert error is not None
            return Check(False, None, f"the program failed: {error.name}: {error.value}"[:300])
        tested = await sandbox.run(task.tests)
    if tested.timed_out:
        return Check(False, None, "the tests timed out")
    if tested.error is not None:
        return Check(False, None, f"tests failed: {tested.error.name}: {tested.error.value}"[:300])
    return Check(True, None, "tests passed")


def check_query(task: EvalTask, query: str | None) -> Check:
    """sql_defog: the candidate's result set against each gold alternative's."""
    if not query:
        return Check(False, None, "no query")
    assert task.database is not None
    try:
        rows = run_sqlite(task.database, query)
    except sqlite3.Error as exc:
        return Check(False, query, f"the query failed: {exc}")
    for gold in sql_alternatives(task.expected):
        try:
            if result_sets_match(rows, run_sqlite(task.database, gold)):
                return Check(True, query)
        except sqlite3.Error:
            continue
    return Check(False, query, "the result set differs from the gold query's")
