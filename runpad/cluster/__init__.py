"""Runs past one machine: batches of checkpointed runs on a Ray cluster.

- `tasks.py`: the batch file (one JSON task a line), checked whole before anything runs,
  and each task's stable thread id;
- `connect.py`: joining a Ray cluster, and the refusals (an unreachable address, SQLite
  checkpoints on several nodes);
- `driver.py`: `batch()`, the driver, and `run_batch_task`, what each Ray task runs: an
  ordinary run through `runpad.runner`, started or resumed from its checkpoints.

`ray` is imported only when a batch joins a cluster (the `ray` extra).
"""

from runpad.cluster.connect import (
    SLOT_RESOURCE,
    ClusterInfo,
    ClusterUnreachable,
    is_postgres,
    joined_cluster,
    refuse_sqlite,
)
from runpad.cluster.driver import (
    DEFAULT_RETRIES,
    FINISHED,
    BatchResult,
    ProgressHandler,
    TaskOutcome,
    batch,
    run_batch_task,
)
from runpad.cluster.tasks import BatchTask, batch_id_of, read_tasks, settings_fields

__all__ = [
    "DEFAULT_RETRIES",
    "FINISHED",
    "SLOT_RESOURCE",
    "BatchResult",
    "BatchTask",
    "ClusterInfo",
    "ClusterUnreachable",
    "ProgressHandler",
    "TaskOutcome",
    "batch",
    "batch_id_of",
    "is_postgres",
    "joined_cluster",
    "read_tasks",
    "refuse_sqlite",
    "run_batch_task",
    "settings_fields",
]
