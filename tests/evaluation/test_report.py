"""Summaries and tables: exclusions leave the accuracy, and say why."""

from __future__ import annotations

import json

from runpad.evaluation import EvalReport, TaskResult, markdown_table
from runpad.evaluation.report import summarize


def report(results: list[TaskResult]) -> EvalReport:
    return EvalReport(
        suite="operations_research",
        mode="oracle",
        model="oracle",
        tasks_in_suite=345,
        limit=3,
        seed=0,
        started="2026-11-21 12:00:00 UTC",
        machine="test",
        runpad_version="0",
        results=results,
        summary=summarize(results),
        skipped=[("nl4opt-999", "no such table")],
        oracle_kind="reference",
    )


def test_excluded_tasks_leave_the_accuracy_and_are_listed_with_their_reason() -> None:
    results = [
        TaskResult(id="a", correct=True, expected="1", extracted="1", cells=1, wall_s=1.0),
        TaskResult(id="b", correct=False, expected="2", extracted="3", cells=3, repairs=2),
        TaskResult(id="c", correct=False, expected="4", excluded="the reference found 5"),
        TaskResult(id="d", correct=False, expected="6", error="SandboxStartError: no kernel"),
    ]
    summary = summarize(results)
    assert summary.scored == 3
    assert summary.correct == 1
    assert summary.excluded == 1
    assert summary.errors == 1
    assert summary.mean_repairs == 2 / 3
    table = markdown_table(report(results))
    assert "- c: the reference found 5" in table
    assert "- nl4opt-999: no such table" in table
    assert "| d | error |" in table
    assert "| c | excluded |" in table
    assert "33.3%" in table


def test_report_json_round_trips() -> None:
    data = json.loads(report([TaskResult(id="a", correct=True, expected="1")]).to_json())
    assert data["summary"]["accuracy"] == 1.0
    assert data["results"][0]["id"] == "a"
    assert data["skipped"] == [["nl4opt-999", "no such table"]]
