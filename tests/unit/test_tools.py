"""The five LangChain tools: driven by LangGraph's prebuilt agent with a scripted model, and
each failure path on its own. No test reaches the web: ddgs's client class is replaced, and
a connection to any address off this machine fails."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import create_react_agent

import runpad.tools
from runpad.models import FunctionChatModel, tool_call_reply
from runpad.sandbox import FakeSandbox, LocalSandbox
from runpad.tools import (
    LookupDocsTool,
    RenderDotTool,
    RunPythonTool,
    RunSqlTool,
    WebSearchTool,
    names_from_error,
    names_from_text,
    search_web,
)
from tests.fixtures.sandboxes import tool_messages

sandboxed = pytest.mark.usefixtures("require_sandbox")


class FakeDDGS:
    """ddgs's client class, answering from a script instead of the web."""

    made: ClassVar[list[dict[str, Any]]] = []
    behaviour: ClassVar[str] = "results"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        FakeDDGS.made.append(kwargs)

    def text(self, query: str, **kwargs: Any) -> list[dict[str, str]]:
        from ddgs.exceptions import DDGSException, TimeoutException

        if FakeDDGS.behaviour == "offline":
            raise DDGSException("ConnectError: error sending request: dns error")
        if FakeDDGS.behaviour == "timeout":
            raise TimeoutException("timed out")
        if FakeDDGS.behaviour == "hang":
            time.sleep(30)
        if FakeDDGS.behaviour == "nothing":
            raise DDGSException("No results found.")
        return [
            {
                "title": f"About {query}",
                "href": "https://example.org/a",
                "body": "Snippet one " * 40,
            },
            {"title": "Second", "href": "https://example.org/b", "body": "Snippet two"},
        ][: kwargs.get("max_results", 10)]


@pytest.fixture
def fake_ddgs(monkeypatch: pytest.MonkeyPatch) -> type[FakeDDGS]:
    monkeypatch.setattr("ddgs.DDGS", FakeDDGS)
    FakeDDGS.made.clear()
    FakeDDGS.behaviour = "results"
    return FakeDDGS


def test_every_tool_is_exported() -> None:
    for name in runpad.tools.__all__:
        assert getattr(runpad.tools, name, None) is not None, name
    names = {
        cls.model_fields["name"].default
        for cls in (RunPythonTool, RunSqlTool, RenderDotTool, WebSearchTool, LookupDocsTool)
    }
    assert names == {"run_python", "run_sql", "render_dot", "web_search", "lookup_docs"}


# -- all five, from a prebuilt agent --------------------------------------------------------


@sandboxed
async def test_a_prebuilt_agent_uses_all_five_tools(
    local_sandbox: LocalSandbox, tmp_path: Path, fake_ddgs: type[FakeDDGS]
) -> None:
    shop = tmp_path / "shop.db"
    with sqlite3.connect(shop) as connection:
        connection.executescript(
            "CREATE TABLE orders (id INTEGER, amount REAL);"
            "INSERT INTO orders VALUES (1, 10.0), (2, 32.0);"
        )
    connection.close()
    model = FunctionChatModel(
        replies=[
            tool_call_reply("run_sql", {"query": "SELECT SUM(amount) AS total FROM orders"}),
            tool_call_reply("lookup_docs", {"names": ["statistics.fmean"]}),
            tool_call_reply(
                "run_python", {"code": "import statistics\nstatistics.fmean([10, 32])"}
            ),
            tool_call_reply("render_dot", {"source": "digraph { sql -> python }", "name": "flow"}),
            tool_call_reply("web_search", {"query": "average order value", "max_results": 2}),
            "The total is 42.0 and the mean 21.0.",
        ]
    )
    with RunSqlTool({"shop": f"sqlite:///{shop}"}, output_dir=str(tmp_path / "out")) as run_sql:
        tools: list[BaseTool] = [
            run_sql,
            RunPythonTool(local_sandbox),
            RenderDotTool(local_sandbox),
            LookupDocsTool(local_sandbox),
            WebSearchTool(timeout=5),
        ]
        # create_react_agent is deprecated in favour of langchain.agents.create_agent; the
        # prebuilt agent is what these tests drive (see test_run_python_tool.py).
        with pytest.warns(DeprecationWarning, match="create_react_agent"):
            agent = create_react_agent(model, tools)
        result = await agent.ainvoke({"messages": [("user", "Total and mean of the orders?")]})

    sql, docs, python, dot, search = tool_messages(result["messages"])
    assert sql.name == "run_sql"
    assert "total" in sql.text
    assert "42.0" in sql.text
    assert sql.artifact["rows"] == [[42.0]]
    assert Path(sql.artifact["csv_path"]).read_text() == "total\n42.0\n"
    assert "fmean(data, weights=None)" in docs.text
    assert docs.artifact[0]["found"]
    assert "[result]\n21.0" in python.text
    assert "flow.svg" in dot.text
    assert "flow.png" in dot.text
    assert (await local_sandbox.download("flow.svg")).startswith(b"<?xml")
    assert "1. About average order value" in search.text
    assert "https://example.org/b" in search.text
    assert len(search.artifact["hits"]) == 2
    assert fake_ddgs.made == [{"timeout": 5}]
    assert model.calls[0].tools == [
        "run_sql",
        "run_python",
        "render_dot",
        "lookup_docs",
        "web_search",
    ]
    assert result["messages"][-1].text == "The total is 42.0 and the mean 21.0."


# -- run_sql ------------------------------------------------------------------------------


def test_run_sql_lists_its_databases_and_refuses_writes(tmp_path: Path) -> None:
    paths = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.db"
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE t (x INTEGER)")
        connection.close()
        paths.append(path)
    with RunSqlTool({"a": f"sqlite:///{paths[0]}", "b": f"sqlite:///{paths[1]}"}) as run_sql:
        assert "- a: sqlite, read-only" in run_sql.description
        assert "Say which database" in run_sql.invoke({"query": "SELECT 1"})
        assert "no database named 'c'" in run_sql.invoke({"query": "SELECT 1", "database": "c"})
        refused = run_sql.invoke({"query": "DROP TABLE t", "database": "a"})
        assert refused.startswith("StatementRefused:")
        assert "allow_writes=True" in refused


def test_run_sql_can_put_the_schema_in_its_description(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE trips (id INTEGER PRIMARY KEY, km REAL)")
    connection.close()
    with RunSqlTool(f"sqlite:///{path}", describe_schema=True) as run_sql:
        assert "Table trips" in run_sql.description
        assert "km REAL" in run_sql.description


# -- render_dot ---------------------------------------------------------------------------


@sandboxed
async def test_bad_dot_comes_back_with_graphvizs_message(local_sandbox: LocalSandbox) -> None:
    render = RenderDotTool(local_sandbox)
    text = await render.ainvoke({"source": "digraph { a -> ; }", "name": "broken"})
    assert "[error]" in text
    assert "DotSyntaxError" in text
    assert "syntax error in line 1" in text
    fixed = await render.ainvoke({"source": "digraph { a -> b; }", "name": "broken"})
    assert "[error]" not in fixed
    assert "broken.svg" in fixed


async def test_a_sandbox_without_graphviz_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere on it
    async with FakeSandbox() as sandbox:
        text = await RenderDotTool(sandbox).ainvoke({"source": "digraph { a -> b }"})
    assert "GraphvizNotInstalled" in text
    assert "apt-get install graphviz" in text


# -- lookup_docs --------------------------------------------------------------------------


@sandboxed
async def test_lookup_docs_sees_the_sessions_variables_and_suggests_names(
    local_sandbox: LocalSandbox,
) -> None:
    await local_sandbox.run("import collections\ncounts = collections.Counter('abca')")
    docs = LookupDocsTool(local_sandbox)
    text = await docs.ainvoke({"names": ["counts.most_common", "collections.Countr", "nope_x"]})
    assert "counts.most_common (method = collections.Counter.most_common)" in text
    assert "signature: most_common(n=None)" in text
    assert "collections.Countr: not found" in text
    assert "Did you mean: Counter" in text
    assert "no variable, module or builtin named 'nope_x'" in text
    names = (await local_sandbox.run("sorted(n for n in dir() if 'runpad' in n)")).text
    assert names == "[]"  # the lookup left the namespace as it was


def test_names_worth_looking_up() -> None:
    assert names_from_error(
        "AttributeError", "'DataFrame' object has no attribute 'sortby'", "df.sortby('a')"
    ) == ["df.sortby", "DataFrame.sortby"]
    assert names_from_error(
        "TypeError",
        "read_csv() got an unexpected keyword argument 'seperator'",
        "import pandas as pd\npd.read_csv('x.csv', seperator=';')",
    ) == ["pd.read_csv", "read_csv"]
    assert names_from_error("TypeError", "unsupported operand type(s) for +", "1 + 'a'") == []
    assert names_from_error("ValueError", "bad", "x") == []
    assert names_from_text("Check `numpy.linalg.lstsq` before solving data.csv") == [
        "numpy.linalg.lstsq"
    ]
    assert names_from_text("Read the documentation of pandas.DataFrame.merge") == [
        "pandas.DataFrame.merge"
    ]


# -- web_search ---------------------------------------------------------------------------


async def test_search_results_are_titles_urls_and_snippets(fake_ddgs: type[FakeDDGS]) -> None:
    text = await WebSearchTool(timeout=3).ainvoke({"query": "python release", "max_results": 1})
    assert text.startswith("1. About python release\n   https://example.org/a\n   Snippet one")
    assert text.endswith("...")  # long snippets are cut
    assert "Second" not in text
    assert fake_ddgs.made == [{"timeout": 3}]


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ("offline", "Web search is unavailable (DDGSException: ConnectError"),
        ("timeout", "Web search is unavailable (TimeoutException"),
        ("nothing", "No results for 'q'."),
    ],
)
async def test_search_failures_are_values(
    behaviour: str, expected: str, fake_ddgs: type[FakeDDGS]
) -> None:
    fake_ddgs.behaviour = behaviour
    outcome = await search_web("q", timeout=2)
    assert outcome.ok == (behaviour == "nothing")
    text = await WebSearchTool(timeout=2).ainvoke({"query": "q"})
    assert text.startswith(expected)


async def test_a_hanging_search_gives_up_at_its_timeout(fake_ddgs: type[FakeDDGS]) -> None:
    fake_ddgs.behaviour = "hang"
    started = time.monotonic()
    outcome = await search_web("q", timeout=0.5)
    assert time.monotonic() - started < 3
    assert outcome.unavailable
    assert outcome.error is not None
    assert "did not answer within 0.5 s" in outcome.error


def test_the_sync_tool_works_inside_a_running_loop(fake_ddgs: type[FakeDDGS]) -> None:
    async def call_sync_from_a_loop() -> str:
        result: str = WebSearchTool().invoke({"query": "x"})
        return result

    assert asyncio.run(call_sync_from_a_loop()).startswith("1. About x")


async def test_duckduckgo_search_is_accepted_when_ddgs_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    legacy = types.ModuleType("duckduckgo_search")
    legacy.DDGS = FakeDDGS  # type: ignore[attr-defined]
    FakeDDGS.behaviour = "results"
    monkeypatch.setitem(sys.modules, "ddgs", None)  # makes `import ddgs` fail
    monkeypatch.setitem(sys.modules, "duckduckgo_search", legacy)
    outcome = await search_web("legacy", timeout=2)
    assert [hit.title for hit in outcome.hits] == ["About legacy", "Second"]


async def test_without_any_search_package_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ddgs", None)
    monkeypatch.setitem(sys.modules, "duckduckgo_search", None)
    outcome = await search_web("q", timeout=2)
    assert outcome.unavailable
    assert outcome.error is not None
    assert "pip install 'runpad[search]'" in outcome.error


class NotesRetriever(BaseRetriever):
    """A retriever over three notes: any LangChain retriever can stand in for web search."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        notes = [
            Document("The Rhine is 1,233 km long.", metadata={"source": "notes/rhine.md"}),
            Document("The Danube is 2,850 km long.", metadata={"title": "Danube"}),
        ]
        return [note for note in notes if query.lower() in note.page_content.lower()]


async def test_a_retriever_can_replace_web_search() -> None:
    outcome = await search_web("danube", provider=NotesRetriever())
    (hit,) = outcome.hits
    assert hit.title == "Danube"
    assert hit.snippet == "The Danube is 2,850 km long."


async def test_a_langchain_search_tool_can_replace_web_search() -> None:
    @tool
    def encyclopedia(query: str) -> list[dict[str, str]]:
        """Look things up in the encyclopedia."""
        return [{"title": f"{query} (article)", "url": "https://wiki.example/x", "content": "..."}]

    search = WebSearchTool(provider=encyclopedia)
    text = await search.ainvoke({"query": "Rhine"})
    assert text.startswith("1. Rhine (article)\n   https://wiki.example/x")
