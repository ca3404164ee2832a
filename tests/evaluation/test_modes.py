"""Code and no-code modes with scripted models: what is recorded per task and per suite."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage

from runpad.errors import ConfigurationError
from runpad.evaluation import EvalSettings, evaluate, get_suite
from runpad.evaluation.report import Mode
from runpad.models import FunctionChatModel
from tests.fixtures.scripted import Script, code


def tiny_answers(benchmarks: Path) -> dict[str, str]:
    return {t.prompt: t.expected for t in get_suite("tiny").load(benchmarks).tasks}


async def test_no_code_is_one_call_with_the_same_extraction(benchmarks: Path) -> None:
    answers = tiny_answers(benchmarks)
    calls: list[list[BaseMessage]] = []

    def respond(messages: list[BaseMessage]) -> str:
        calls.append(messages)
        question = next(q for q in answers if q in messages[-1].text)
        return f"Let me think.\nANSWER: {answers[question]}"

    model = FunctionChatModel(respond=respond)
    report = await evaluate(
        "tiny", EvalSettings(model=model, mode="no-code", limit=5, benchmarks=benchmarks)
    )
    assert len(calls) == 5  # one model call per task, no sandbox
    assert report.summary.correct == 5
    assert report.summary.accuracy == 1.0
    for result in report.results:
        assert result.status == "direct"
        assert result.cells == 0
        assert result.sandbox_s == 0
        assert result.tokens > 0
        assert result.extracted is not None
        assert result.extracted.replace(".0", "") == result.expected.replace(".0", "")
    assert report.model == "FunctionChatModel"


async def test_no_code_wrong_answers_score_zero(benchmarks: Path) -> None:
    model = FunctionChatModel(respond=lambda _: "I am not sure, maybe 3.5?")
    report = await evaluate(
        "tiny", EvalSettings(model=model, mode="no-code", limit=4, benchmarks=benchmarks)
    )
    assert report.summary.correct == 0
    assert report.summary.ci_low == 0.0
    assert 0 < report.summary.ci_high < 1
    numeric = [r for r in report.results if r.expected.replace(".", "").isdigit()]
    assert numeric
    assert all(r.extracted == "3.5" for r in numeric)


@pytest.mark.sandbox
@pytest.mark.usefixtures("require_sandbox")
async def test_no_code_program_suites_are_tested_in_the_sandbox(benchmarks: Path) -> None:
    solutions = {
        t.prompt: t.oracle for t in get_suite("humaneval").load(benchmarks).tasks if t.oracle
    }

    def respond(messages: list[BaseMessage]) -> str:
        prompt = messages[-1].text
        solution = next(s for p, s in solutions.items() if p in prompt)
        return f"Here it is:\n```python\n{solution}\n```"

    model = FunctionChatModel(respond=respond)
    report = await evaluate(
        "humaneval",
        EvalSettings(model=model, mode="no-code", limit=2, seed=3, benchmarks=benchmarks),
    )
    assert report.summary.correct == 2, report.results

    broken = FunctionChatModel(respond=lambda _: "```python\ndef nothing():\n    pass\n```")
    report = await evaluate(
        "humaneval",
        EvalSettings(model=broken, mode="no-code", limit=2, seed=3, benchmarks=benchmarks),
    )
    assert report.summary.correct == 0
    assert all("tests failed" in r.detail for r in report.results)


@pytest.mark.sandbox
@pytest.mark.usefixtures("require_sandbox")
async def test_code_mode_records_cells_repairs_tokens_and_time(
    benchmarks: Path, script: Script, tmp_path: Path
) -> None:
    model = script(
        router=["ROUTE: code"],
        planner=["1. Multiply the numbers | check: the product is printed"],
        coder=[code("print(48271 * 9157 / 0)"), code("print(48271 * 9157)")],
        reviewer=["VERDICT: done\nANSWER: 48271 * 9157 = 442017547"],
    )
    report = await evaluate(
        "tiny",
        EvalSettings(model=model, task_ids=["tiny-00"], benchmarks=benchmarks, out_dir=tmp_path),
    )
    [result] = report.results
    assert result.correct
    assert result.extracted == "442017547"
    assert result.status == "answered"
    assert result.cells == 2
    assert result.repairs == 1
    assert not result.first_attempt  # correct, but only after a repair
    assert result.tokens > 0
    assert result.sandbox_s > 0
    assert result.wall_s >= result.sandbox_s
    assert report.summary.mean_repairs == 1.0
    assert report.summary.first_attempt_rate == 0.0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["results"][0]["id"] == "tiny-00"
    assert saved["summary"]["correct"] == 1
    table = (tmp_path / "results.md").read_text()
    assert re.search(r"\| tiny \| code \| .* \| 1 \| 1 \| 100\.0%", table)
    assert result.printed_correct
    assert "A cell printed the correct answer in 1 of 1 tasks" in table


@pytest.mark.sandbox
@pytest.mark.usefixtures("require_sandbox")
async def test_code_mode_with_samples_votes_and_reports_the_ceiling(
    benchmarks: Path, script: Script
) -> None:
    # Two wrong programs agree, the right one is outvoted: the vote answers wrongly, and
    # the report shows that a cell had printed the correct answer.
    model = script(
        router=["ROUTE: code"],
        planner=["1. Multiply the numbers | check: the product is printed"],
        coder=[code("print(48271 * 9156)"), code("print(48271 * 9157)"), code("print(441969276)")],
    )
    settings = EvalSettings(model=model, task_ids=["tiny-00"], benchmarks=benchmarks, samples=3)
    report = await evaluate("tiny", settings)
    [result] = report.results
    assert result.answer == "441969276"
    assert not result.correct
    assert result.printed_correct
    assert result.cells == 3
    assert report.settings["samples"] == 3
    assert report.summary.printed_correct == 1


@pytest.mark.sandbox
@pytest.mark.usefixtures("require_sandbox")
async def test_code_mode_run_without_an_answer_scores_nothing(
    benchmarks: Path, script: Script
) -> None:
    model = script(
        router=["ROUTE: code"],
        planner=["1. Compute | check: printed"] * 2,
        coder=[code("print(1/0)"), code("print(2/0)"), code("print(3/0)")] * 2,
    )
    report = await evaluate(
        "tiny", EvalSettings(model=model, task_ids=["tiny-00"], benchmarks=benchmarks)
    )
    [result] = report.results
    assert not result.correct
    assert result.answer is None
    assert result.status == "stopped"
    assert result.stop_reason


@pytest.mark.parametrize(("failures", "correct"), [(1, True), (2, False)])
async def test_a_sandbox_that_did_not_start_is_tried_once_more(
    benchmarks: Path, monkeypatch: pytest.MonkeyPatch, failures: int, correct: bool
) -> None:
    from runpad.errors import SandboxStartError
    from runpad.evaluation import runner

    real = runner._outcome
    calls = 0

    async def flaky(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls <= failures:
            raise SandboxStartError("The sandbox kernel did not answer within 30 s")
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "_outcome", flaky)
    model = FunctionChatModel(respond=lambda _: "ANSWER: 442017547")
    report = await evaluate(
        "tiny",
        EvalSettings(model=model, mode="no-code", task_ids=["tiny-00"], benchmarks=benchmarks),
    )
    [result] = report.results
    assert result.correct is correct
    assert calls == min(failures + 1, 2)
    if not correct:
        assert result.error is not None
        assert result.error.startswith("SandboxStartError")
        assert report.summary.errors == 1


@pytest.mark.parametrize(("suite", "mode"), [("humaneval", "code"), ("tiny", "no-code")])
async def test_samples_are_refused_where_there_is_no_printed_answer_to_vote_on(
    benchmarks: Path, suite: str, mode: Mode
) -> None:
    settings = EvalSettings(model="replay:none", mode=mode, benchmarks=benchmarks, samples=3)
    with pytest.raises(ConfigurationError, match="Leave --samples at 1"):
        await evaluate(suite, settings)
