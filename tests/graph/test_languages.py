"""Whole runs with SQL, Graphviz DOT, documentation and search steps: scripted models, the
real local sandbox, real SQLite. No test sends traffic outside this machine: ddgs's client
class is replaced, and any other connection to a non-loopback address fails."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from runpad.models import FunctionChatModel
from tests.fixtures.data import make_shop
from tests.fixtures.scripted import ROUTE_CODE, CountingManager, Script, code, run_task

pytestmark = pytest.mark.sandbox


class OfflineDDGS:
    """ddgs's client as it behaves with no network: every search fails to connect."""

    searches: ClassVar[list[str]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def text(self, query: str, **kwargs: Any) -> list[dict[str, str]]:
        from ddgs.exceptions import DDGSException

        OfflineDDGS.searches.append(query)
        raise DDGSException(
            "ConnectError: error sending request for url (https://html.duckduckgo.com/html)"
        )


def fenced(language: str, source: str) -> str:
    return f"Here it is:\n```{language}\n{source}\n```"


# -- SQL ------------------------------------------------------------------------------------


async def test_a_sql_question(script: Script, sandboxes: CountingManager, tmp_path: Path) -> None:
    shop = make_shop(tmp_path / "shop.db")
    model = script(
        router=[ROUTE_CODE],
        planner=["1. [sql] Total sales per region | check: one row per region"],
        coder=[
            fenced(
                "sql",
                "SELECT c.region, SUM(o.amount) AS total FROM orders o "
                "JOIN customers c ON c.id = o.customer_id GROUP BY c.region ORDER BY total DESC",
            )
        ],
        reviewer=["VERDICT: done\nANSWER: south sold most (25.0)"],
    )
    result = await run_task(
        "Which region sold most?",
        model,
        sandboxes,
        tmp_path,
        databases={"shop": f"sqlite:///{shop}"},
    )
    assert result.status == "answered", result.stop_reason
    (cell,) = result.cells
    assert cell["language"] == "sql"
    assert cell["ok"]
    assert "2 row(s) x 2 column(s)" in cell["stdout"]
    assert "south  | 25.0" in cell["stdout"]
    (csv_file,) = cell["artifacts"]
    assert csv_file["name"] == "query-1.csv"
    assert csv_file["mime_type"] == "text/csv"
    assert Path(csv_file["path"]).read_text() == "region,total\nsouth,25.0\nnorth,20.0\n"
    assert sandboxes.started == 0  # a SQL step needs no sandbox


async def test_a_refused_write_is_repaired_and_the_database_is_unchanged(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    shop = make_shop(tmp_path / "shop.db")
    before = shop.read_bytes()
    model = script(
        router=[ROUTE_CODE],
        planner=["1. [sql] Count the orders | check: a count"],
        coder=[
            fenced("sql", "DELETE FROM orders WHERE amount < 5; SELECT COUNT(*) FROM orders"),
            fenced("sql", "SELECT COUNT(*) AS orders FROM orders WHERE amount >= 5"),
        ],
        reviewer=["VERDICT: done\nANSWER: 3"],
    )
    result = await run_task(
        "How many orders of 5 or more?",
        model,
        sandboxes,
        tmp_path,
        databases={"shop": f"sqlite:///{shop}"},
    )
    assert result.status == "answered"
    refused, repaired = result.cells
    assert refused["error"] is not None
    assert refused["error"]["name"] == "StatementRefused"
    assert "allow_writes=True" in refused["error"]["value"]
    assert repaired["ok"]
    assert shop.read_bytes() == before


async def test_sql_results_reach_later_python_cells(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    shop = make_shop(tmp_path / "shop.db")
    other = make_shop(tmp_path / "other.db")
    model = script(
        router=[ROUTE_CODE],
        planner=[
            "1. [sql] Fetch the orders | check: rows\n"
            "2. [python] Average the amounts with pandas | check: a number"
        ],
        coder=[
            fenced("sql", "-- database: shop\nSELECT id, amount FROM orders ORDER BY id"),
            code("import pandas as pd\nprint(pd.read_csv('query-1.csv').amount.mean())"),
        ],
        reviewer=["VERDICT: next", "VERDICT: done\nANSWER: 11.25"],
    )
    result = await run_task(
        "Average order",
        model,
        sandboxes,
        tmp_path,
        databases={"shop": f"sqlite:///{shop}", "other": f"sqlite:///{other}"},
    )
    assert result.status == "answered", result.stop_reason
    assert result.cells[1]["stdout"] == "11.25\n"


async def test_a_sql_result_goes_into_a_running_session_at_once(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    shop = make_shop(tmp_path / "shop.db")
    model = script(
        router=[ROUTE_CODE],
        planner=[
            "1. [python] Set a threshold | check: printed\n"
            "2. [sql] Fetch the orders | check: rows\n"
            "3. [python] Count orders over the threshold | check: a number"
        ],
        coder=[
            code("threshold = 10\nprint(threshold)"),
            fenced("sql", "SELECT amount FROM orders"),
            code(
                "import pandas as pd\nprint((pd.read_csv('query-2.csv').amount > threshold).sum())"
            ),
        ],
        reviewer=["VERDICT: next", "VERDICT: next", "VERDICT: done\nANSWER: 2"],
    )
    result = await run_task(
        "Orders over 10", model, sandboxes, tmp_path, databases={"shop": f"sqlite:///{shop}"}
    )
    assert result.status == "answered", result.stop_reason
    assert [cell["language"] for cell in result.cells] == ["python", "sql", "python"]
    assert result.cells[2]["stdout"] == "2\n"
    assert sandboxes.started == 1


# -- Graphviz DOT ---------------------------------------------------------------------------


async def test_a_dot_diagram_with_a_repaired_syntax_error(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE],
        planner=["1. [dot] Draw the pipeline load -> clean -> plot | check: a diagram"],
        coder=[
            fenced("dot", "digraph pipeline { load -> clean -> }"),
            fenced("dot", 'digraph pipeline { rankdir=LR; load -> clean -> plot [label="ok"]; }'),
        ],
        reviewer=["VERDICT: done\nANSWER: drawn as diagram-2.svg"],
    )
    result = await run_task("Draw the pipeline", model, sandboxes, tmp_path)
    assert result.status == "answered", result.stop_reason
    broken, drawn = result.cells
    assert broken["language"] == "dot"
    assert broken["error"] is not None
    assert broken["error"]["name"] == "DotSyntaxError"
    assert "syntax error in line 1" in broken["error"]["value"]
    assert drawn["ok"]
    names = sorted(artifact["name"] for artifact in drawn["artifacts"])
    assert names == ["diagram-2.dot", "diagram-2.png", "diagram-2.svg"]
    files = {artifact["name"]: Path(artifact["path"]) for artifact in drawn["artifacts"]}
    assert files["diagram-2.png"].read_bytes().startswith(b"\x89PNG")
    assert "<svg" in files["diagram-2.svg"].read_text()
    assert ">plot</text>" in files["diagram-2.svg"].read_text()


# -- documentation --------------------------------------------------------------------------


async def test_a_step_that_needs_documentation(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    coder = FunctionChatModel(
        replies=[
            code("import statistics\nprint(statistics.fmean([1, 2, 3, 4], weights=[1, 1, 1, 5]))")
        ]
    )
    model = script(
        router=[ROUTE_CODE],
        planner=[
            "1. [docs] Look up `statistics.fmean` | check: its signature\n"
            "2. [python] Weighted mean of 1..4 with weights 1, 1, 1, 5 | check: a number"
        ],
        reviewer=["VERDICT: done\nANSWER: 3.25"],
    )
    result = await run_task("Weighted mean", model, sandboxes, tmp_path, coder_model=coder)
    assert result.status == "answered", result.stop_reason
    (finding,) = result.findings
    assert finding["kind"] == "docs"
    assert finding["ok"]
    assert "fmean(data, weights=None)" in finding["text"]  # the sandbox's Python 3.11
    prompt = coder.calls[0].last.text
    assert "[documentation: statistics.fmean]" in prompt
    assert "fmean(data, weights=None)" in prompt
    assert result.cells[0]["stdout"] == "3.25\n"


async def test_an_attribute_error_looks_up_the_api_before_the_repair(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    coder = FunctionChatModel(
        replies=[
            code("import statistics\nvalues = [2, 4, 9]\nprint(statistics.meen(values))"),
            code("import statistics\nvalues = [2, 4, 9]\nprint(statistics.mean(values))"),
        ]
    )
    model = script(
        router=[ROUTE_CODE],
        planner=["1. Mean of 2, 4, 9 | check: a number"],
        reviewer=["VERDICT: done\nANSWER: 5"],
    )
    result = await run_task("Mean", model, sandboxes, tmp_path, coder_model=coder)
    assert result.status == "answered", result.stop_reason
    failed, repaired = result.cells
    assert failed["error"] is not None
    assert failed["error"]["name"] == "AttributeError"
    (finding,) = result.findings
    assert finding["query"] == "statistics.meen"
    assert "Did you mean: mean" in finding["text"]
    assert "Did you mean: mean" in coder.calls[1].last.text
    assert repaired["stdout"] == "5\n"


# -- web search -----------------------------------------------------------------------------


async def test_a_search_step_with_the_network_down_goes_on(
    script: Script, sandboxes: CountingManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ddgs.DDGS", OfflineDDGS)
    OfflineDDGS.searches.clear()
    coder = FunctionChatModel(replies=[code("print(2 ** 10)")])
    model = script(
        router=[ROUTE_CODE],
        planner=[
            "1. [search] Search the web for the largest power of two under 2000 | check: a fact\n"
            "2. [python] Compute it | check: a number"
        ],
        reviewer=["VERDICT: done\nANSWER: 1024"],
    )
    started = time.monotonic()
    result = await run_task(
        "Largest power of two under 2000", model, sandboxes, tmp_path, coder_model=coder
    )
    assert time.monotonic() - started < 60
    assert result.status == "answered", result.stop_reason
    assert OfflineDDGS.searches == ["the largest power of two under 2000"]
    (finding,) = result.findings
    assert finding["kind"] == "search"
    assert not finding["ok"]
    assert "Web search is unavailable" in finding["text"]
    assert "ConnectError" in finding["text"]
    assert "Web search is unavailable" in coder.calls[0].last.text  # the coder knows
    assert result.cells[0]["stdout"] == "1024\n"


async def test_a_search_only_task_without_network_stops_and_says_why(
    script: Script, sandboxes: CountingManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ddgs.DDGS", OfflineDDGS)
    model = script(router=[ROUTE_CODE], planner=["1. [search] Who won the 2030 World Cup?"])
    result = await run_task("Who won the 2030 World Cup?", model, sandboxes, tmp_path)
    assert result.status == "stopped"
    assert result.stop_reason is not None
    assert "Web search is unavailable" in result.stop_reason
    assert sandboxes.started == 0
