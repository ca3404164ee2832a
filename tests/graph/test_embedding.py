"""runpad inside other apps: the compiled graph as a LangChain Runnable (async and sync), as
a step of another LangGraph graph, and its tools in a LangChain agent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from typing_extensions import TypedDict

from runpad.context import Context
from runpad.graphs import build_analysis_graph
from runpad.graphs.sync import close_sync_sessions, with_sync_nodes
from tests.fixtures.scripted import Script, code

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("require_sandbox")]


@pytest.fixture
def model(script: Script) -> str:
    """Answers every thread the same way: each thread counts its model calls from zero."""
    return script(
        router=["ROUTE: code"],
        planner=["1. Compute and print it | check: the number is printed"],
        coder=[code("value = 6 * 7\nprint('value:', value)")],
        reviewer=["VERDICT: done\nANSWER: 42"],
    )


def thread(name: str) -> RunnableConfig:
    return {"configurable": {"thread_id": name}}


def chain_around(graph: Runnable[Any, Any], context: Context) -> Runnable[str, str]:
    """question -> the graph's input -> the graph (its context bound) -> the answer."""

    def as_input(question: str) -> dict[str, str]:
        return {"task": question}

    def answer_of(state: dict[str, Any]) -> str:
        return str(state["answer"])

    return RunnableLambda(as_input) | graph.bind(context=context) | RunnableLambda(answer_of)


@pytest.fixture
async def context(model: str, tmp_path: Path) -> AsyncIterator[Context]:
    context = Context(model=model, run_dir=str(tmp_path / "runs"))
    yield context
    await context.aclose()


@pytest.fixture
def sync_context(model: str, tmp_path: Path) -> Iterator[Context]:
    context = Context(model=model, run_dir=str(tmp_path / "runs"))
    yield context
    close_sync_sessions(context)


async def test_async_runnable_methods_in_a_chain(context: Context) -> None:
    graph = build_analysis_graph().compile(checkpointer=InMemorySaver())
    chain = chain_around(graph, context)

    assert await chain.ainvoke("Six times seven?", thread("one")) == "42"
    assert await chain.abatch(["Again?", "And again?"], [thread("two"), thread("three")]) == [
        "42",
        "42",
    ]

    streamed = [
        chunk
        async for chunk in graph.astream(
            {"task": "Six times seven?"}, thread("four"), context=context, stream_mode="custom"
        )
    ]
    assert {"type": "stdout", "cell": 1, "text": "value: 42\n"} in streamed

    started = [
        event["name"]
        async for event in graph.astream_events(
            {"task": "Six times seven?"}, thread("five"), context=context, version="v2"
        )
        if event["event"] == "on_chain_start"
    ]
    for node in ("router", "planner", "coder", "static_check", "executor", "reviewer"):
        assert node in started


def test_sync_invoke_stream_and_batch_in_a_chain(sync_context: Context) -> None:
    graph = build_analysis_graph().compile(checkpointer=InMemorySaver())
    chain = chain_around(graph, sync_context)

    assert chain.invoke("Six times seven?", thread("one")) == "42"
    assert chain.batch(["Again?", "And again?"], [thread("two"), thread("three")]) == ["42", "42"]
    streamed = list(
        graph.stream(
            {"task": "Six times seven?"}, thread("four"), context=sync_context, stream_mode="custom"
        )
    )
    assert {"type": "stdout", "cell": 1, "text": "value: 42\n"} in streamed


def test_sync_calls_pause_for_approval_and_resume(model: str, tmp_path: Path) -> None:
    context = Context(model=model, run_dir=str(tmp_path / "runs"), approve=True)
    graph = build_analysis_graph().compile(checkpointer=InMemorySaver())
    try:
        paused = graph.invoke({"task": "Six times seven?"}, thread("t"), context=context)
        (interrupt,) = paused["__interrupt__"]
        assert interrupt.value["code"] == "value = 6 * 7\nprint('value:', value)"

        done = graph.invoke(Command(resume="approve"), thread("t"), context=context)

        assert done["status"] == "answered"
        assert done["cells"][0]["stdout"] == "value: 42\n"
    finally:
        close_sync_sessions(context)


def test_with_sync_nodes_keeps_the_graph_and_is_idempotent() -> None:
    built = build_analysis_graph()  # already has its sync twins
    again = with_sync_nodes(build_analysis_graph())

    assert again.compile().get_graph().draw_mermaid() == built.compile().get_graph().draw_mermaid()
    for name, spec in built.nodes.items():
        assert getattr(spec.runnable, "func", None) is not None, f"{name} has no sync version"


class Ticket(TypedDict, total=False):
    question: str
    answer: str
    evidence: list[str]


async def test_the_graph_as_a_step_of_another_langgraph_app(context: Context) -> None:
    analysis = build_analysis_graph().compile(checkpointer=InMemorySaver())

    # `state`, not `ticket`: add_node's types match a node's parameters by name.
    async def analyse(state: Ticket, config: RunnableConfig) -> Ticket:
        done = await analysis.ainvoke({"task": state["question"]}, config, context=context)
        return {"answer": done["answer"], "evidence": [c["stdout"] for c in done["cells"]]}

    app = StateGraph(Ticket)
    app.add_node("analyse", analyse)
    app.add_edge(START, "analyse")
    app.add_edge("analyse", END)
    helpdesk = app.compile()

    ticket = await helpdesk.ainvoke({"question": "Six times seven?"}, thread("ticket-1"))

    assert ticket == {
        "question": "Six times seven?",
        "answer": "42",
        "evidence": ["value: 42\n"],
    }


async def test_run_python_in_a_langchain_agent() -> None:
    from langchain.agents import create_agent
    from langchain_core.messages import HumanMessage

    from runpad.models import FunctionChatModel, tool_call_reply
    from runpad.sandbox import open_sandbox
    from runpad.tools import RunPythonTool

    model = FunctionChatModel(
        replies=[tool_call_reply("run_python", {"code": "sum(range(101))"}), "It is 5050."]
    )
    async with RunPythonTool(lambda: open_sandbox("local")) as run_python:
        agent = create_agent(model, [run_python])
        result = await agent.ainvoke({"messages": [HumanMessage("Sum 0..100 with Python.")]})

    assert result["messages"][-1].text == "It is 5050."
    assert "5050" in model.calls[1].last.text  # the model read the sandbox's real output
