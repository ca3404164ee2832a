"""The evaluation harness: benchmark suites, their checkers, three modes and reports.

`runpad eval SUITE` runs a suite through the whole analysis graph (code mode), asks the
same model directly (no-code mode), or runs the benchmark's reference solutions through
the same path (oracle mode, which must score 100%). See `runpad.evaluation.runner`.
"""

from runpad.evaluation.checkers import Check, result_sets_match
from runpad.evaluation.report import (
    EvalReport,
    Mode,
    SuiteSummary,
    TaskResult,
    markdown_table,
    wilson_interval,
)
from runpad.evaluation.runner import EVAL_LIMITS, MODES, EvalSettings, evaluate, select_tasks
from runpad.evaluation.suites import SUITES, EvalTask, Suite, SuiteData, benchmarks_dir, get_suite

__all__ = [
    "EVAL_LIMITS",
    "MODES",
    "SUITES",
    "Check",
    "EvalReport",
    "EvalSettings",
    "EvalTask",
    "Mode",
    "Suite",
    "SuiteData",
    "SuiteSummary",
    "TaskResult",
    "benchmarks_dir",
    "evaluate",
    "get_suite",
    "markdown_table",
    "result_sets_match",
    "select_tasks",
    "wilson_interval",
]
