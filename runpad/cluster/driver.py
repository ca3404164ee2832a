"""`runpad.batch`: every task of a batch file as a checkpointed run, spread over a Ray cluster.

Each task is one Ray task (`run_batch_task`) that runs or resumes one ordinary run through
`runpad.runner` (`arun` / `aresume`, the same path as `runpad run`), under a thread id
derived from the batch and the task (`BatchTask.thread_id`). So:

- a node that dies takes its Ray tasks with it; Ray runs each again on another node
  (`max_retries`: retries after a process or node dies, never after an error in the run),
  and the retry finds the run's checkpoints and resumes it: finished steps are not redone,
  and the executor rebuilds the kernel from its snapshot (or by replaying cells);
- a driver that dies ends its Ray tasks; running the same batch again reads each task's
  checkpoint first, keeps the finished runs as they are and runs or resumes only the rest.

The checkpoints must be reachable from every node: on a cluster of several nodes that
means PostgreSQL (a SQLite file is refused). Input files, replay files and the runs
directory (`out`: artifacts and kernel snapshots) must be at the same path on every node,
e.g. a shared volume; see docs/deployment.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runpad.bridge import run_sync
from runpad.cluster.connect import (
    SLOT_RESOURCE,
    ClusterInfo,
    is_postgres,
    joined_cluster,
    refuse_sqlite,
)
from runpad.cluster.tasks import (
    FACTORY_SETTINGS,
    BatchTask,
    batch_id_of,
    load_factory,
    read_tasks,
    settings_fields,
)
from runpad.context import Context
from runpad.errors import ConfigurationError, RunNotFound
from runpad.runner import aget_run, aresume, arun, open_checkpointer
from runpad.runs import RunResult

__all__ = [
    "FINISHED",
    "BatchResult",
    "ProgressHandler",
    "TaskOutcome",
    "batch",
    "run_batch_task",
]

FINISHED = frozenset({"answered", "stopped", "rejected"})
"""Run statuses that are final: such a run is never run again by a batch."""

DEFAULT_RETRIES = 3
"""How many times Ray runs a task again after its worker process or node died."""


@dataclass(frozen=True)
class TaskOutcome:
    """How one task of a batch ended (one line of the results file).

    Attributes:
        id, line, thread_id: which task, and its run's thread id.
        status: the run's status ("answered", "stopped", "failed"...), or "error" when the
            run could not be driven (the error says why; running the batch again retries).
        answer, stop_reason, cells, tokens: from the run.
        node: the Ray node id that finished it (None: finished by an earlier invocation).
        resumed: the task found its run's checkpoints and went on from them (a retry after
            a lost node, or a batch run again after its driver died).
        skipped: finished by an earlier invocation of the batch; read from the checkpoints.
        error: why the run could not be driven.
        wall_s: seconds this invocation spent on it (0 for a skipped task).
        output_dir: the run's folder (answer, report, notebook, artifacts).
    """

    id: str
    line: int
    thread_id: str
    status: str
    answer: str | None = None
    stop_reason: str | None = None
    cells: int = 0
    tokens: int = 0
    node: str | None = None
    resumed: bool = False
    skipped: bool = False
    error: str | None = None
    wall_s: float = 0.0
    output_dir: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "answered"


@dataclass(frozen=True)
class BatchResult:
    """A whole batch: each task's outcome in file order, and where they were written.

    Attributes:
        batch_id: the batch's id (part of every thread id).
        outcomes: one per task, in the file's order.
        results_file: the JSON Lines file of the outcomes (`<out>/<batch_id>.results.jsonl`).
        cluster: the cluster it ran on, as it stood at the start (None: every task had
            finished earlier, and no cluster was joined).
        wall_s: seconds the whole invocation took.
    """

    batch_id: str
    outcomes: list[TaskOutcome]
    results_file: Path
    cluster: ClusterInfo | None
    wall_s: float

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    @property
    def ok(self) -> bool:
        """Every task answered."""
        return all(outcome.ok for outcome in self.outcomes)


ProgressHandler = Callable[[TaskOutcome], None]
"""Called as each task ends (skipped tasks first, then in the order they finish)."""


def batch(
    tasks: str | Path | Sequence[BatchTask],
    *,
    checkpoints: str | None = None,
    cluster: str = "auto",
    out: str | Path = "runs",
    concurrency: int | None = None,
    batch_id: str | None = None,
    retries: int = DEFAULT_RETRIES,
    on_start: Callable[[int, int], None] | None = None,
    on_task: ProgressHandler | None = None,
    **settings: Any,
) -> BatchResult:
    """Run every task of a batch on a Ray cluster, each as a checkpointed run; run it
    again to finish what an earlier invocation left unfinished.

    Args:
        tasks: a batch file (one JSON object a line, see `runpad.cluster.tasks`) or tasks
            already read (then `batch_id` is required).
        checkpoints: a PostgreSQL URL (needed on more than one node) or a SQLite file
            (default: `<out>/checkpoints.sqlite`, one node only).
        cluster: "auto" (the cluster this machine belongs to), "HOST:PORT", or "local"
            (a one-node Ray started for the batch).
        out: the runs directory, at the same path on every node.
        concurrency: at most this many tasks in flight (default: Ray places them all, as
            far as the nodes' sandbox slots or CPUs allow).
        batch_id: the batch's id (default: the file's name and a hash of its content).
        retries: how many times a task whose worker or node died is run again.
        on_start: called with (tasks in the batch, tasks already finished) before any runs.
        on_task: called with each task's outcome as it ends.
        settings: `Context` settings for every task (model, sandbox, limits...); a line's
            own `settings` win.

    Raises:
        ConfigurationError: a bad batch file (nothing runs), bad settings, SQLite
            checkpoints on a multi-node cluster, an unreachable checkpoint database.
        ClusterUnreachable: no cluster answers at `cluster`.

    Example:
        ```python
        result = runpad.batch(
            "tasks.jsonl",
            cluster="auto",
            checkpoints="postgresql://runpad@db/runpad",
            model="openai:gpt-4.1",
        )
        print(result.count("answered"), "of", len(result.outcomes), "answered")
        ```
    """
    started = time.monotonic()
    if isinstance(tasks, str | Path):
        batch_id = batch_id or batch_id_of(Path(tasks))
        task_list = read_tasks(tasks)
    else:
        if batch_id is None:
            raise ConfigurationError("Tasks given as objects need a batch_id.")
        task_list = list(tasks)
    if concurrency is not None and concurrency < 1:
        raise ConfigurationError(f"concurrency must be at least 1, not {concurrency}.")
    defaults = _batch_settings(settings)
    out = Path(out).resolve()
    store = checkpoints if is_postgres(checkpoints) else str(_sqlite_path(checkpoints, out))
    no_store = not is_postgres(store) and not Path(str(store)).is_file()
    finished = {} if no_store else run_sync(_finished_runs(task_list, batch_id, store, out))
    pending = [task for task in task_list if task.id not in finished]
    outcomes: dict[str, TaskOutcome] = {}
    with contextlib.ExitStack() as stack:
        # Nothing left to run: no cluster to join (the results are read back as they are).
        info = stack.enter_context(joined_cluster(cluster)) if pending else None
        if info is not None:
            refuse_sqlite(info, checkpoints)
        if on_start is not None:
            on_start(len(task_list), len(finished))
        for task in task_list:
            if (previous := finished.get(task.id)) is not None:
                outcomes[task.id] = _outcome(task, task.thread_id(batch_id), previous, skipped=True)
                if on_task is not None:
                    on_task(outcomes[task.id])
        if info is not None:
            submitted = _submit(pending, batch_id, store, out, defaults, info, concurrency, retries)
            for outcome in submitted:
                outcomes[outcome.id] = outcome
                if on_task is not None:
                    on_task(outcome)
    ordered = [outcomes[task.id] for task in task_list]
    results_file = out / f"{batch_id}.results.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    results_file.write_text(
        "".join(json.dumps(dataclasses.asdict(o)) + "\n" for o in ordered), encoding="utf-8"
    )
    return BatchResult(batch_id, ordered, results_file, info, round(time.monotonic() - started, 3))


def _batch_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The batch-wide settings, checked like a line's; replay files made absolute, as the
    workers do not share the driver's working directory."""
    allowed = settings_fields()
    if unknown := sorted(set(settings) - allowed):
        raise ConfigurationError(
            f"Unknown or refused batch setting(s): {', '.join(unknown)}; "
            f"known: {', '.join(sorted(allowed))}."
        )
    checked = {name: value for name, value in settings.items() if value is not None}
    for name in ("model", "planner_model", "coder_model", "reviewer_model"):
        spec = checked.get(name)
        if isinstance(spec, str) and spec.startswith("replay:"):
            checked[name] = f"replay:{Path(spec.removeprefix('replay:')).resolve()}"
    return checked


def _sqlite_path(checkpoints: str | None, out: Path) -> Path:
    return Path(checkpoints).resolve() if checkpoints else out / "checkpoints.sqlite"


async def _finished_runs(
    tasks: list[BatchTask], batch_id: str, store: str | None, out: Path
) -> dict[str, RunResult]:
    """The tasks whose runs have finished already, by task id: read from the checkpoints."""
    found: dict[str, RunResult] = {}
    async with open_checkpointer(store, out) as saver:
        for task in tasks:
            try:
                result = await aget_run(task.thread_id(batch_id), checkpointer=saver, run_dir=out)
            except RunNotFound:
                continue
            if result.status in FINISHED:
                found[task.id] = result
    return found


def _submit(
    tasks: list[BatchTask],
    batch_id: str,
    store: str | None,
    out: Path,
    defaults: dict[str, Any],
    info: ClusterInfo,
    concurrency: int | None,
    retries: int,
) -> Iterator[TaskOutcome]:
    """Submit the tasks as Ray tasks, at most `concurrency` at a time; yield each outcome
    as it arrives."""
    import ray

    options: dict[str, Any] = {
        "max_retries": retries,
        "retry_exceptions": False,  # an error in the run is its outcome; only deaths retry
        "scheduling_strategy": "SPREAD",
    }
    if info.slots:  # a sandbox slot per run: a node never holds more runs than sessions
        options.update(num_cpus=0, resources={SLOT_RESOURCE: 1})
    remote = ray.remote(run_batch_task).options(**options)
    queue = list(reversed(tasks))
    in_flight: dict[Any, BatchTask] = {}
    limit = concurrency or len(tasks)
    with _cancel_on_exit(in_flight):
        while queue or in_flight:
            while queue and len(in_flight) < limit:
                task = queue.pop()
                ref = remote.remote(task, task.thread_id(batch_id), store, str(out), defaults)
                in_flight[ref] = task
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                task = in_flight.pop(ref)
                try:
                    outcome: TaskOutcome = ray.get(ref)
                except ray.exceptions.RayError as exc:  # out of retries: the nodes kept dying
                    outcome = TaskOutcome(
                        id=task.id,
                        line=task.line,
                        thread_id=task.thread_id(batch_id),
                        status="error",
                        error=f"{type(exc).__name__}: {exc}".splitlines()[0][:500],
                    )
                yield outcome


@contextlib.contextmanager
def _cancel_on_exit(in_flight: dict[Any, BatchTask]) -> Iterator[None]:
    """Tasks still in flight when the driver stops (Ctrl-C, an error) are cancelled; their
    checkpoints stay, and the next invocation resumes them."""
    try:
        yield
    finally:
        if in_flight:
            import ray

            for ref in in_flight:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)


def run_batch_task(
    task: BatchTask, thread_id: str, store: str | None, out: str, defaults: dict[str, Any]
) -> TaskOutcome:
    """One task, where Ray placed it: run it, or resume its checkpointed run, or (already
    finished) read it back. Errors are the outcome, not an exception, so that Ray retries
    only lost workers and nodes."""
    node = _node_id()
    started = time.monotonic()
    try:
        result, resumed = run_sync(_run_or_resume(task, thread_id, store, Path(out), defaults))
    except Exception as exc:  # the run's own failure: recorded; the next invocation retries
        return TaskOutcome(
            id=task.id,
            line=task.line,
            thread_id=thread_id,
            status="error",
            node=node,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            wall_s=round(time.monotonic() - started, 3),
        )
    outcome = _outcome(task, thread_id, result, skipped=False)
    return dataclasses.replace(
        outcome, node=node, resumed=resumed, wall_s=round(time.monotonic() - started, 3)
    )


async def _run_or_resume(
    task: BatchTask, thread_id: str, store: str | None, out: Path, defaults: dict[str, Any]
) -> tuple[RunResult, bool]:
    """The run of `thread_id`: started, resumed from its checkpoints, or read back."""
    async with open_checkpointer(store, out) as saver:
        try:
            previous: RunResult | None = await aget_run(thread_id, checkpointer=saver, run_dir=out)
        except RunNotFound:
            previous = None
        if previous is not None and previous.status in FINISHED:
            return previous, True
        settings = _with_models({**defaults, **task.settings})
        async with Context(**settings, databases=task.databases, run_dir=str(out)) as context:
            if previous is None:
                result = await arun(
                    task.task,
                    files=task.files,
                    thread_id=thread_id,
                    context=context,
                    checkpointer=saver,
                )
                return result, False
            return await aresume(thread_id, context=context, checkpointer=saver), True


_ROLE_MODELS = ("model", "planner_model", "coder_model", "reviewer_model")


def _with_models(settings: dict[str, Any]) -> dict[str, Any]:
    """The Context settings, with the models the `model_factory` makes (here, on the node
    that runs the task: a chat model object need not travel)."""
    factory, arguments = settings.get("model_factory"), settings.get("model_factory_args") or {}
    settings = {k: v for k, v in settings.items() if k not in FACTORY_SETTINGS}
    if factory is None:
        return settings
    made = load_factory(str(factory))(**arguments)
    if not isinstance(made, dict):
        made = {"model": made}
    if unknown := sorted(set(made) - set(_ROLE_MODELS)):
        raise ConfigurationError(
            f"model_factory {factory} returned {', '.join(unknown)}; it returns a chat model "
            f"or a dict of {', '.join(_ROLE_MODELS)}."
        )
    return {**settings, **made}


def _node_id() -> str | None:
    try:
        import ray
    except ImportError:
        return None
    if not ray.is_initialized():
        return None
    return str(ray.get_runtime_context().get_node_id())


def _outcome(task: BatchTask, thread_id: str, result: RunResult, *, skipped: bool) -> TaskOutcome:
    return TaskOutcome(
        id=task.id,
        line=task.line,
        thread_id=thread_id,
        status=result.status,
        answer=result.answer,
        stop_reason=result.stop_reason,
        cells=len(result.cells),
        tokens=result.tokens,
        skipped=skipped,
        output_dir=result.output_dir,
    )
