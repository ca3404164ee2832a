"""FunctionChatModel: the deterministic model runpad ships, from a function or a script."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import tool
from pydantic import ValidationError

from runpad.models import FunctionChatModel, ScriptExhaustedError, tool_call_reply


@tool
def add_one(value: int) -> int:
    """Add one to a number."""
    return value + 1


def echo(messages: list[BaseMessage]) -> str:
    return f"you said {messages[-1].text}"


async def test_replies_play_in_order_and_every_call_is_recorded() -> None:
    model = FunctionChatModel(replies=["first", tool_call_reply("add_one", {"value": 1}), echo])
    bound = model.bind_tools([add_one])

    assert (await model.ainvoke("hello")).text == "first"
    reply = await bound.ainvoke([HumanMessage("add")])
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("add_one", {"value": 1})]
    assert reply.tool_calls[0]["id"]
    assert model.invoke("ping").text == "you said ping"

    calls = model.calls
    assert [call.last.text for call in calls] == ["hello", "add", "ping"]
    assert [call.tools for call in calls] == [[], ["add_one"], []]
    assert model.remaining == 0


def test_a_call_past_the_script_fails_clearly() -> None:
    model = FunctionChatModel(replies=["only"])
    model.invoke("one")
    with pytest.raises(ScriptExhaustedError, match="called 2 times but its script has 1") as info:
        model.invoke("the unexpected question")
    assert "the unexpected question" in str(info.value)


def test_scripted_messages_are_copied_not_shared() -> None:
    scripted = AIMessage(content="same")
    model = FunctionChatModel(replies=[scripted, scripted])
    assert model.invoke("a") is not model.invoke("b")
    assert scripted.id is None


def test_a_reply_of_another_type_is_refused() -> None:
    with pytest.raises(ValidationError, match="str, an AIMessage or a function"):
        FunctionChatModel(replies=[42])  # type: ignore[list-item]  # refused statically too


def test_a_respond_function_answers_every_call_with_estimated_usage() -> None:
    model = FunctionChatModel(respond=lambda messages: "x" * 40)

    replies = [model.invoke("a question of some length"), model.invoke("another")]

    assert [reply.text for reply in replies] == ["x" * 40, "x" * 40]
    usage = replies[0].usage_metadata
    assert usage is not None
    assert (usage["input_tokens"], usage["output_tokens"]) == (6, 10)
    assert [call.last.text for call in model.calls] == ["a question of some length", "another"]


def test_a_model_takes_a_function_or_a_script_not_both_nor_neither() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        FunctionChatModel()
    with pytest.raises(ValidationError, match="exactly one"):
        FunctionChatModel(respond=echo, replies=["x"])
