"""The benchmark data the evaluation tests read (the project's shared/benchmarks)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runpad.errors import ConfigurationError
from runpad.evaluation import EvalTask, benchmarks_dir, get_suite
from tests.fixtures.requirements import unavailable


@pytest.fixture(scope="session")
def benchmarks() -> Path:
    """The benchmarks folder; skipped locally (failed in CI) when it is not there."""
    try:
        return benchmarks_dir()
    except ConfigurationError as exc:
        unavailable(str(exc))


Loader = Callable[[str], dict[str, EvalTask]]


@pytest.fixture(scope="session")
def load(benchmarks: Path) -> Loader:
    """`load(suite)`: the suite's tasks by id."""
    cache: dict[str, dict[str, EvalTask]] = {}

    def tasks(suite: str) -> dict[str, EvalTask]:
        if suite not in cache:
            cache[suite] = {task.id: task for task in get_suite(suite).load(benchmarks).tasks}
        return cache[suite]

    return tasks
