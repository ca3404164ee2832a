"""What an evaluation found: per task, per suite, as JSON and as a Markdown table."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = [
    "EvalReport",
    "Mode",
    "SuiteSummary",
    "TaskResult",
    "markdown_table",
    "summarize",
    "wilson_interval",
]

Mode = Literal["code", "no-code", "oracle"]


@dataclass(frozen=True)
class TaskResult:
    """One task's outcome.

    Attributes:
        correct: the suite's checker accepted the answer (False when `excluded`).
        excluded: oracle mode: why this task's reference is known not to score (label
            noise, no usable reference); excluded tasks do not count in the accuracy.
        answer: the run's answer text (or, for program and SQL suites, the program).
        extracted: what the checker read from it.
        status: how the run ended ("answered", "stopped", ...; "direct" for no-code).
        cells: cells run; repairs: cells that re-tried a step after a failure or a review.
        first_attempt: the task was solved with every cell succeeding the first time.
        tokens: model tokens, prompt and reply. wall_s: the task's whole time, checking
            included. sandbox_s: time spent running the run's cells.
        error: the harness could not run the task (a sandbox or model failure).
        printed_correct: code mode, answer suites: some successful cell printed a correct
            answer (what the best pick among the run's cells would score: the ceiling of
            a vote); None where it does not apply.
    """

    id: str
    correct: bool
    expected: str
    answer: str | None = None
    extracted: str | None = None
    detail: str = ""
    excluded: str | None = None
    status: str = ""
    stop_reason: str | None = None
    cells: int = 0
    repairs: int = 0
    first_attempt: bool = False
    tokens: int = 0
    wall_s: float = 0.0
    sandbox_s: float = 0.0
    error: str | None = None
    thread_id: str | None = None
    printed_correct: bool | None = None


@dataclass(frozen=True)
class SuiteSummary:
    """Accuracy (with a 95% Wilson interval) and costs over the scored tasks."""

    scored: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float
    first_attempt_rate: float
    mean_repairs: float
    mean_cells: float
    mean_tokens: float
    mean_wall_s: float
    total_wall_s: float
    mean_sandbox_s: float
    excluded: int
    errors: int
    printed_correct: int | None = None


@dataclass(frozen=True)
class EvalReport:
    """A whole evaluation: its settings, every task and the summary."""

    suite: str
    mode: Mode
    model: str
    tasks_in_suite: int
    limit: int | None
    seed: int
    started: str
    machine: str
    runpad_version: str
    results: list[TaskResult]
    summary: SuiteSummary
    skipped: list[tuple[str, str]] = field(default_factory=list)
    oracle_kind: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default); (0, 1) for no trials."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def summarize(results: list[TaskResult]) -> SuiteSummary:
    scored = [result for result in results if result.excluded is None]
    correct = sum(result.correct for result in scored)
    low, high = wilson_interval(correct, len(scored))
    return SuiteSummary(
        scored=len(scored),
        correct=correct,
        accuracy=correct / len(scored) if scored else 0.0,
        ci_low=low,
        ci_high=high,
        first_attempt_rate=_mean([float(r.first_attempt) for r in scored]),
        mean_repairs=_mean([float(r.repairs) for r in scored]),
        mean_cells=_mean([float(r.cells) for r in scored]),
        mean_tokens=_mean([float(r.tokens) for r in scored]),
        mean_wall_s=_mean([r.wall_s for r in scored]),
        total_wall_s=sum(r.wall_s for r in results),
        mean_sandbox_s=_mean([r.sandbox_s for r in scored]),
        excluded=len(results) - len(scored),
        errors=sum(r.error is not None for r in results),
        printed_correct=(
            sum(bool(r.printed_correct) for r in scored)
            if any(r.printed_correct is not None for r in scored)
            else None
        ),
    )


SUMMARY_HEADER = (
    "| suite | mode | model | tasks | correct | accuracy (95% CI) | first attempt | "
    "mean repairs | mean cells | mean tokens | mean time | excluded | errors |\n"
    "|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
)


def summary_row(report: EvalReport) -> str:
    s = report.summary
    return (
        f"| {report.suite} | {report.mode} | {report.model} | {s.scored} | {s.correct} | "
        f"{s.accuracy:.1%} ({s.ci_low:.1%}–{s.ci_high:.1%}) | {s.first_attempt_rate:.1%} | "
        f"{s.mean_repairs:.2f} | {s.mean_cells:.1f} | {s.mean_tokens:.0f} | "
        f"{s.mean_wall_s:.1f} s | {s.excluded} | {s.errors} |"
    )


def _cell(text: str | None, limit: int = 60) -> str:
    if text is None:
        return ""
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def markdown_table(report: EvalReport, *, tasks: bool = True) -> str:
    """The summary row, then (with `tasks`) one row per task."""
    lines = [
        f"## {report.suite}, {report.mode} mode, {report.model}",
        "",
        f"{report.started} on {report.machine}; {len(report.results)} of "
        f"{report.tasks_in_suite} tasks (limit {report.limit}, seed {report.seed}).",
        "",
        SUMMARY_HEADER,
        summary_row(report),
    ]
    if report.summary.printed_correct is not None:
        lines += [
            "",
            f"A cell printed the correct answer in {report.summary.printed_correct} of "
            f"{report.summary.scored} tasks (the ceiling of a vote over the runs' cells).",
        ]
    if report.skipped:
        lines += ["", f"Skipped {len(report.skipped)} question(s) the data cannot support:"]
        lines += [f"- {task_id}: {why}" for task_id, why in report.skipped]
    excluded = [r for r in report.results if r.excluded is not None]
    if excluded:
        lines += ["", "Excluded from the accuracy:"]
        lines += [f"- {r.id}: {r.excluded}" for r in excluded]
    if tasks:
        lines += [
            "",
            "| task | correct | expected | extracted | status | cells | repairs | tokens | time |",
            "|---|---|---|---|---|---:|---:|---:|---:|",
        ]
        for r in report.results:
            verdict = (
                "excluded"
                if r.excluded
                else ("error" if r.error else ("yes" if r.correct else "no"))
            )
            lines.append(
                f"| {r.id} | {verdict} | {_cell(r.expected, 30)} | {_cell(r.extracted, 30)} | "
                f"{r.status} | {r.cells} | {r.repairs} | {r.tokens} | {r.wall_s:.1f} s |"
            )
    return "\n".join(lines) + "\n"
