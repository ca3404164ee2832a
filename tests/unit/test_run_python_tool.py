"""run_python: a scripted model drives LangGraph's prebuilt agent against a real sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolCall
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import create_react_agent

from runpad.errors import ConfigurationError
from runpad.models import FunctionChatModel, tool_call_reply
from runpad.sandbox import LocalSandbox, Sandbox, SandboxPool
from runpad.sandbox.results import Artifact, Execution, ExecutionError, RichResult
from runpad.tools import RunPythonTool, format_execution
from tests.fixtures.sandboxes import TEST_LIMITS, tool_messages

sandboxed = pytest.mark.usefixtures("require_sandbox")


def react_agent(model: FunctionChatModel, tool: RunPythonTool) -> CompiledStateGraph[Any]:
    # create_react_agent is deprecated in favour of langchain.agents.create_agent, which
    # lives in a package runpad does not depend on; the prebuilt agent is what we test with.
    with pytest.warns(DeprecationWarning, match="create_react_agent"):
        return create_react_agent(model, [tool])


# -- an agent with a real sandbox -----------------------------------------------------------


@sandboxed
async def test_the_model_gets_the_real_output_and_answers(local_sandbox: LocalSandbox) -> None:
    code = "squares = [i * i for i in range(10)]\nprint('count', len(squares))\nsum(squares)"
    model = FunctionChatModel(
        replies=[tool_call_reply("run_python", {"code": code}), "The sum is 285."]
    )
    tool = RunPythonTool(local_sandbox)
    result = await react_agent(model, tool).ainvoke({"messages": [("user", "Sum the squares.")]})

    (message,) = tool_messages(result["messages"])
    assert message.name == "run_python"
    assert message.status == "success"
    assert "285" in message.text
    assert "count 10" in message.text
    execution = Execution.from_dict(message.artifact)
    assert execution.text == "285"
    # The model saw the tool, then the tool's real result, then answered.
    assert model.calls[0].tools == ["run_python"]
    assert model.calls[1].last.text == message.text
    assert result["messages"][-1].text == "The sum is 285."
    assert model.remaining == 0


@sandboxed
async def test_an_error_reaches_the_model_which_repairs_it(local_sandbox: LocalSandbox) -> None:
    model = FunctionChatModel(
        replies=[
            tool_call_reply("run_python", {"code": "total = base * 2"}),
            tool_call_reply("run_python", {"code": "base = 21\ntotal = base * 2\ntotal"}),
            "It is 42.",
        ]
    )
    tool = RunPythonTool(local_sandbox)
    result = await react_agent(model, tool).ainvoke({"messages": [("user", "Double 21.")]})

    failed, repaired = tool_messages(result["messages"])
    assert "[error]" in failed.text
    assert "NameError: name 'base' is not defined" in failed.text
    assert "total = base * 2" in failed.text  # the traceback shows the failing line
    assert model.calls[1].last.text == failed.text
    assert "42" in repaired.text
    assert "[error]" not in repaired.text
    assert (await local_sandbox.run("total")).text == "42"  # the session kept its state


@sandboxed
async def test_parallel_tool_calls_run_one_at_a_time(local_sandbox: LocalSandbox) -> None:
    calls = [
        ToolCall(name="run_python", args={"code": "import time; time.sleep(0.3); 'a'"}, id="a"),
        ToolCall(name="run_python", args={"code": "'b'"}, id="b"),
    ]
    model = FunctionChatModel(replies=[AIMessage(content="", tool_calls=calls), "done"])
    tool = RunPythonTool(local_sandbox)
    result = await react_agent(model, tool).ainvoke({"messages": [("user", "Both.")]})

    by_id = {m.tool_call_id: m.text for m in tool_messages(result["messages"])}
    assert by_id == {"a": "[result]\n'a'", "b": "[result]\n'b'"}


@sandboxed
def test_a_sync_agent_with_a_factory_gets_its_own_session() -> None:
    made: list[Sandbox] = []

    def factory() -> Sandbox:
        made.append(LocalSandbox(TEST_LIMITS))
        return made[-1]

    model = FunctionChatModel(
        replies=[
            tool_call_reply("run_python", {"code": "x = 6"}),
            tool_call_reply("run_python", {"code": "x * 7"}),
            "42",
        ]
    )
    with RunPythonTool(factory) as tool:
        result = react_agent(model, tool).invoke({"messages": [("user", "6 * 7?")]})
        assert "[result]\n42" in tool_messages(result["messages"])[-1].text
        assert len(made) == 1
        assert made[0].is_running
    assert not made[0].is_running


@sandboxed
async def test_a_pooled_session_is_acquired_lazily_and_closed_by_the_tool() -> None:
    async with SandboxPool(lambda: LocalSandbox(TEST_LIMITS), size=1) as pool:
        await pool.fill()
        async with RunPythonTool(pool) as tool:
            assert pool.warm == 1  # nothing taken before the first call
            content = await tool.ainvoke({"code": "import os; os.getcwd()"})
            assert content == "[result]\n'/work'"
            session_count = pool.warm + pool.starting
            assert session_count == 1  # one taken, one refilling or refilled
        await pool.fill()
        assert pool.warm == 1


@sandboxed
async def test_the_model_cannot_ask_for_more_than_max_timeout(local_sandbox: LocalSandbox) -> None:
    tool = RunPythonTool(local_sandbox, max_timeout=1)
    content = await tool.ainvoke({"code": "import time; time.sleep(20)", "timeout": 300})
    assert "TimeoutError" in content
    assert "1 s limit" in content


@sandboxed
async def test_a_started_session_cannot_be_used_synchronously(local_sandbox: LocalSandbox) -> None:
    tool = RunPythonTool(local_sandbox)
    with pytest.raises(ConfigurationError, match="ainvoke"):
        tool.invoke({"code": "1"})


# -- the tool's interface and its text ------------------------------------------------------


def test_the_schema_the_model_sees() -> None:
    tool = RunPythonTool(lambda: LocalSandbox(TEST_LIMITS))
    assert tool.name == "run_python"
    assert set(tool.args) == {"code", "timeout"}
    assert convert_to_openai_tool(tool)["function"]["parameters"]["required"] == ["code"]
    for promise in ("stateful", "working directory", "last expression", "traceback"):
        assert promise in tool.description
    assert tool.response_format == "content_and_artifact"


def test_anything_but_a_session_source_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="SandboxPool"):
        RunPythonTool("local")  # type: ignore[arg-type]


def test_long_output_keeps_its_head_and_tail_within_the_budget() -> None:
    stdout = "".join(f"line {i}\n" for i in range(2000))
    text = format_execution(Execution(stdout=stdout), max_chars=1000)
    assert len(text) < 1200
    assert text.startswith("[stdout]\nline 0\nline 1\n")
    assert text.rstrip().endswith("line 1999")
    assert "characters omitted" in text


def test_a_short_section_survives_when_another_is_cut() -> None:
    execution = Execution(
        stdout="x" * 50_000,
        results=[RichResult({"text/plain": "42"}, is_main_result=True)],
        artifacts=[Artifact("plot.png", 23_456, "image/png", "0" * 64)],
    )
    text = format_execution(execution, max_chars=2000)
    assert "[result]\n42" in text
    assert "[files written]\nplot.png (23.5 kB)" in text


def test_an_error_keeps_the_end_of_its_traceback() -> None:
    frames = "".join(f"  frame {i}\n" for i in range(1000))
    error = ExecutionError("ValueError", "bad input", f"Traceback\n{frames}ValueError: bad input")
    text = format_execution(Execution(error=error), max_chars=600)
    assert text.startswith("[error]\nTraceback")
    assert text.endswith("ValueError: bad input")


def test_an_error_without_its_summary_in_the_traceback_gets_it() -> None:
    summary = "The cell ran longer than its 5 s limit"
    error = ExecutionError("TimeoutError", summary, traceback="KeyboardInterrupt")
    text = format_execution(Execution(error=error, timed_out=True))
    assert text.endswith(f"TimeoutError: {summary}")


def test_figures_and_spills_and_silence_are_described() -> None:
    figure = RichResult({"text/plain": "<Figure>", "image/png": "iVBORw0KGgo="})
    text = format_execution(Execution(results=[figure], stdout_spill=".runpad/cell-1-stdout.txt"))
    assert "[display]\n<Figure> (image/png)" in text
    assert ".runpad/cell-1-stdout.txt" in text
    assert "no output" in format_execution(Execution())
