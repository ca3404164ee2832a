"""The oracle: every reference solution, run through the whole graph and scored by the
same extraction and checkers as a model's code, must score 100%. The harness loses nothing
between the code and the score."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from runpad.evaluation import SUITES, EvalSettings, EvalTask, evaluate, get_suite
from runpad.evaluation.runner import graph_has_sql_tool, oracle_models
from runpad.sandbox.environment import find_environment
from tests.fixtures.requirements import unavailable

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.usefixtures("require_sandbox"),
    # Some references (MBPP) have invalid string escapes, which Python only warns about.
    pytest.mark.filterwarnings("ignore:invalid escape sequence"),
]

# sql_defog's oracle runs the gold queries through the graph's SQL tool.
ORACLE_SUITES = [name for name in SUITES if name != "sql_defog" or graph_has_sql_tool()]
SAMPLE = {"humaneval": 4, "mbpp": 4, "operations_research": 8, "sql_defog": 8}


def copt_in_sandbox() -> bool:
    python = find_environment().python
    return subprocess.run([str(python), "-c", "import coptpy"], capture_output=True).returncode == 0


def skip_without_copt(suite: str) -> None:
    if suite == "operations_research" and not copt_in_sandbox():
        unavailable(
            "the operations-research references are COPT programs: "
            "runpad sandbox setup --package coptpy"
        )


@pytest.mark.parametrize("suite", ORACLE_SUITES)
async def test_oracle_scores_everything_on_a_sample(
    suite: str, benchmarks: Path, tmp_path: Path
) -> None:
    skip_without_copt(suite)
    settings = EvalSettings(
        mode="oracle", limit=SAMPLE.get(suite, 6), seed=7, benchmarks=benchmarks, out_dir=tmp_path
    )
    report = await evaluate(suite, settings)
    failures = [r for r in report.results if r.excluded is None and not r.correct]
    assert report.summary.scored > 0
    assert not failures, failures
    assert report.summary.accuracy == 1.0
    assert report.oracle_kind == get_suite(suite).oracle_kind
    # It went through the graph: one cell each, run in the sandbox, no repairs.
    for result in report.results:
        if result.excluded is None:
            assert result.status == "answered"
            assert result.cells == 1
            assert result.repairs == 0
            assert result.first_attempt
            assert result.sandbox_s > 0
    assert (tmp_path / "results.json").is_file()
    assert (tmp_path / "results.md").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("suite", ORACLE_SUITES)
async def test_oracle_scores_everything_on_a_larger_sample(suite: str, benchmarks: Path) -> None:
    skip_without_copt(suite)
    report = await evaluate(
        suite, EvalSettings(mode="oracle", limit=25, seed=11, benchmarks=benchmarks)
    )
    failures = [r for r in report.results if r.excluded is None and not r.correct]
    assert not failures, failures
    assert report.summary.scored > 0


async def test_the_oracle_answers_nan_where_nan_is_the_answer(benchmarks: Path) -> None:
    # dabench-554's gold median is NaN: the first NaN gets a repair, the second is judged.
    settings = EvalSettings(mode="oracle", task_ids=["dabench-554"], benchmarks=benchmarks)
    [result] = (await evaluate("dabench", settings)).results
    assert result.correct, result
    assert result.cells == 2
    assert result.repairs == 1


async def test_a_wrong_reference_scores_zero(
    benchmarks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The oracle test could fail: an oracle cell that prints a wrong answer is not correct."""
    suite = get_suite("tiny")
    original = suite.load

    def load(root: Path):  # type: ignore[no-untyped-def]
        data = original(root)
        wrong = [
            dataclasses.replace(t, oracle="print('runpad-oracle-answer:', 1)") for t in data.tasks
        ]
        return dataclasses.replace(data, tasks=wrong)

    monkeypatch.setitem(SUITES, "tiny", dataclasses.replace(suite, load=load))
    report = await evaluate("tiny", EvalSettings(mode="oracle", limit=2, benchmarks=benchmarks))
    assert report.summary.scored == 2
    assert report.summary.correct == 0
    assert all(r.extracted == "1" for r in report.results)


async def test_an_oracle_cell_that_prints_no_answer_scores_nothing(
    benchmarks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = get_suite("tiny")
    original = suite.load

    def load(root: Path):  # type: ignore[no-untyped-def]
        data = original(root)
        return dataclasses.replace(
            data, tasks=[dataclasses.replace(t, oracle="print('working')") for t in data.tasks]
        )

    monkeypatch.setitem(SUITES, "tiny", dataclasses.replace(suite, load=load))
    report = await evaluate("tiny", EvalSettings(mode="oracle", limit=1, benchmarks=benchmarks))
    [result] = report.results
    assert not result.correct
    assert result.cells >= 2
    assert result.repairs >= 1


def test_gsm_hard_label_noise_is_kept_and_counted(benchmarks: Path) -> None:
    """SOURCES.md: some gsm_hard targets are negative or fractional. Their references still
    reproduce them (the oracle scores them), so they stay in; none is excluded silently."""
    tasks = get_suite("gsm_hard").load(benchmarks).tasks
    noisy = [t for t in tasks if float(t.expected) < 0 or float(t.expected) % 1]
    assert len(noisy) > 100
    assert all(t.oracle_exclusion is None for t in tasks)


def test_oracle_reviewer_reads_the_answer_from_the_output_only() -> None:
    task = EvalTask(id="t", suite="tiny", prompt="?", expected="42", oracle="print(42)")
    roles = oracle_models(task, get_suite("tiny"))
    from langchain_core.messages import HumanMessage

    code_only = "```python\nprint('runpad-oracle-answer:', 42)\n```"
    with_output = f"{code_only}\nOutput:\nrunpad-oracle-answer: 42\n"
    assert "repair" in roles.reviewer.invoke([HumanMessage(code_only)]).text
    assert roles.reviewer.invoke([HumanMessage(with_output)]).text.endswith("ANSWER: 42")
    assert roles.default.invoke([HumanMessage("Task: ?")]).text == "ROUTE: code"
