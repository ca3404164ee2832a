"""`runpad eval`: options, JSON on stdout, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runpad.evaluation.runner import graph_has_sql_tool
from tests.fixtures.cli import invoke


@pytest.mark.sandbox
@pytest.mark.usefixtures("require_sandbox")
def test_oracle_json_parses(benchmarks: Path, tmp_path: Path) -> None:
    result = invoke(
        "eval", "tiny", "--mode", "oracle", "--limit", "3", "--json",
        "--benchmarks", str(benchmarks), "--out", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["suite"] == "tiny"
    assert report["mode"] == "oracle"
    assert report["summary"]["scored"] == 3
    assert report["summary"]["correct"] == 3
    assert len(report["results"]) == 3
    assert {"correct", "answer", "cells", "repairs", "tokens", "wall_s", "sandbox_s"} <= set(
        report["results"][0]
    )
    assert json.loads((tmp_path / "results.json").read_text())["summary"]["correct"] == 3


@pytest.mark.sandbox
@pytest.mark.usefixtures("require_sandbox")
def test_default_output_is_the_markdown_summary(benchmarks: Path) -> None:
    result = invoke(
        "eval", "tiny", "--mode", "oracle", "--task", "tiny-14", "--benchmarks", str(benchmarks)
    )
    assert result.exit_code == 0, result.output
    assert "| tiny | oracle | oracle | 1 | 1 | 100.0%" in result.stdout


def test_the_default_benchmarks_folder_is_found() -> None:
    result = invoke("eval", "tiny", "--mode", "no-code", "--model", "replay:/nonexistent.jsonl")
    assert result.exit_code == 2  # the model is refused, after the suite was found
    assert "No record file" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "choose one of"),
        (["tiny", "--mode", "guess"], "choose one of"),
        (["tiny", "--benchmarks", "/nonexistent"], "No benchmarks folder"),
        (["tiny", "--mode", "oracle", "--task", "tiny-99"], "No such task"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = invoke("eval", *args)
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.skipif(graph_has_sql_tool(), reason="the graph has its SQL tool")
def test_sql_defog_says_it_needs_the_sql_tool(benchmarks: Path) -> None:
    result = invoke(
        "eval", "sql_defog", "--mode", "oracle", "--limit", "1", "--benchmarks", str(benchmarks)
    )  # fmt: skip
    assert result.exit_code == 2
    assert "needs the SQL tool" in result.output
