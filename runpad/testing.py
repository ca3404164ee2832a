"""Test helpers shipped with runpad, so that your tests can drive agents without a real model.

`ScriptedChatModel` is a LangChain chat model that plays a script: each call returns the
next reply, which may call tools. It records what it was sent, so tests can assert on the
prompts and on the tool results the model saw.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeAlias

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, ToolCall
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr, SkipValidation, field_validator

__all__ = [
    "ModelCall",
    "ScriptExhaustedError",
    "ScriptedChatModel",
    "ScriptedReply",
    "tool_call_reply",
]

ScriptedReply: TypeAlias = str | AIMessage | Callable[[list[BaseMessage]], str | AIMessage]
"""One turn of a script: text, a message (with tool calls), or a function of the prompt."""


class ScriptExhaustedError(AssertionError):
    """The model was called more times than its script has replies.

    An AssertionError, because it means the code under test made a call the test did not
    expect; the message shows the prompt of the extra call.
    """


@dataclass(frozen=True)
class ModelCall:
    """What the model received in one call.

    Attributes:
        messages: the prompt, as the model got it.
        tools: names of the tools bound to the model for this call.
    """

    messages: list[BaseMessage]
    tools: list[str] = field(default_factory=list)

    @property
    def last(self) -> BaseMessage:
        """The last message of the prompt: a tool result, or the user's question."""
        return self.messages[-1]


def tool_call_reply(
    name: str, args: dict[str, Any], *, content: str = "", call_id: str | None = None
) -> AIMessage:
    """A scripted reply that calls one tool.

    Example:
        ```python
        tool_call_reply("run_python", {"code": "6 * 7"})
        ```
    """
    tool_call = ToolCall(name=name, args=args, id=call_id or f"call_{uuid.uuid4().hex[:12]}")
    return AIMessage(content=content, tool_calls=[tool_call])


class ScriptedChatModel(BaseChatModel):
    """A chat model that replays `replies` in order, one per call, and records each call.

    Replies are strings (a plain answer), `AIMessage`s (for tool calls, see
    `tool_call_reply`) or functions of the prompt that return either. `bind_tools` is
    supported, so agents that call tools (`langgraph.prebuilt.create_react_agent`, LangChain
    agents) run on it; the tools are recorded, not checked. A call past the end of the
    script raises ScriptExhaustedError.

    Example:
        ```python
        from runpad.testing import ScriptedChatModel, tool_call_reply

        model = ScriptedChatModel(
            replies=[tool_call_reply("run_python", {"code": "6 * 7"}), "It is 42."]
        )
        agent = create_react_agent(model, [RunPythonTool(sandbox)])
        await agent.ainvoke({"messages": [("user", "What is 6 * 7?")]})
        assert "42" in model.calls[1].last.text
        ```
    """

    # Checked by `_check_replies`: pydantic's own union validation would feed a function to
    # AIMessage's validators, which expect a mapping.
    replies: Annotated[list[ScriptedReply], SkipValidation()]
    """The script, in call order."""

    _calls: list[ModelCall] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @field_validator("replies", mode="before")
    @classmethod
    def _check_replies(cls, replies: object) -> list[ScriptedReply]:
        if not isinstance(replies, list | tuple):
            raise ValueError(f"replies must be a list, got {type(replies).__name__}")
        for reply in replies:
            if not (isinstance(reply, str | AIMessage) or callable(reply)):
                raise ValueError(
                    "Each scripted reply is a str, an AIMessage or a function of the prompt; "
                    f"got {type(reply).__name__}"
                )
        return list(replies)

    @property
    def calls(self) -> list[ModelCall]:
        """Every call so far, in order (a copy)."""
        with self._lock:
            return list(self._calls)

    @property
    def remaining(self) -> int:
        """Replies not yet used."""
        with self._lock:
            return len(self.replies) - len(self._calls)

    @property
    def _llm_type(self) -> str:
        return "runpad-scripted"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._reply(messages, kwargs.get("tools") or [])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # No thread hop: scripted replies are instant, and ordering stays deterministic.
        return self._reply(messages, kwargs.get("tools") or [])

    def _reply(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> ChatResult:
        tool_names = [tool["function"]["name"] for tool in tools if "function" in tool]
        with self._lock:
            index = len(self._calls)
            self._calls.append(ModelCall(messages=list(messages), tools=tool_names))
        if index >= len(self.replies):
            last = messages[-1].text if messages else "(no messages)"
            raise ScriptExhaustedError(
                f"ScriptedChatModel was called {index + 1} times but its script has "
                f"{len(self.replies)} replies. The extra call's last message was:\n{last[:2000]}"
            )
        reply = self.replies[index]
        if callable(reply):
            reply = reply(list(messages))
        message = AIMessage(content=reply) if isinstance(reply, str) else reply.model_copy()
        return ChatResult(generations=[ChatGeneration(message=message)])
