"""The deterministic chat model: replies from a function or a script, for tests and demos.

runpad's offline models are two, both in this package:

- `FunctionChatModel` answers each call from code: `respond(messages)` (stateless, so it
  survives a crash and a resume), or `replies=[...]` played in call order (a test's script;
  a reply may call tools, see `tool_call_reply`). It records every call in `calls`.
- `ReplayChatModel` (`runpad.models.replay`) answers from a record file of a real run, by
  graph role and call number (docs/record-replay.md).

Both build their `ChatResult` with `chat_result`, which estimates the token usage a real
model would have reported, so that budgets and reports count offline runs too.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Self, TypeAlias

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, ToolCall
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr, SkipValidation, field_validator, model_validator

__all__ = [
    "FunctionChatModel",
    "ModelCall",
    "Reply",
    "ScriptExhaustedError",
    "chat_result",
    "estimate_tokens",
    "tool_call_reply",
]

Reply: TypeAlias = str | AIMessage | Callable[[list[BaseMessage]], str | AIMessage]
"""One scripted turn: text, a message (with tool calls), or a function of the prompt."""


def estimate_tokens(text: str) -> int:
    """About four characters a token, for models that report no usage."""
    return max(1, len(text) // 4)


def chat_result(reply: str | AIMessage, prompt: Sequence[BaseMessage]) -> ChatResult:
    """`reply` as a chat model's result, with its usage estimated when it carries none.

    The message is copied, so that a reply scripted twice gives two distinct messages.
    """
    message = AIMessage(content=reply) if isinstance(reply, str) else reply.model_copy()
    if message.usage_metadata is None:
        read = sum(estimate_tokens(sent.text) for sent in prompt)
        written = estimate_tokens(message.text)
        message.usage_metadata = UsageMetadata(
            input_tokens=read, output_tokens=written, total_tokens=read + written
        )
    return ChatResult(generations=[ChatGeneration(message=message)])


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


class FunctionChatModel(BaseChatModel):
    """Replies with `respond(messages)`, or with `replies` in call order; records each call.

    Give exactly one of the two. `respond` is stateless, so a run driven by it survives a
    crash and a resume. A script's replies are strings, `AIMessage`s (for tool calls, see
    `tool_call_reply`) or functions of the prompt that return either; a call past the end
    of the script raises ScriptExhaustedError. `bind_tools` is supported, so agents that
    call tools (`langgraph.prebuilt.create_react_agent`, LangChain agents) run on it; the
    tools are recorded, not checked.

    Example:
        ```python
        def respond(messages):
            if "Write one cell" in messages[-1].text:
                return "```python\\nprint(6 * 7)\\n```"
            return "VERDICT: done\\nANSWER: 42"

        runpad.run("What is 6 * 7?", model=FunctionChatModel(respond=respond))

        model = FunctionChatModel(
            replies=[tool_call_reply("run_python", {"code": "6 * 7"}), "It is 42."]
        )
        agent = create_react_agent(model, [RunPythonTool(sandbox)])
        await agent.ainvoke({"messages": [("user", "What is 6 * 7?")]})
        assert "42" in model.calls[1].last.text
        ```
    """

    respond: Callable[[list[BaseMessage]], str | AIMessage] | None = None
    """The reply to every call, as a function of the prompt."""
    # Checked by `_check_replies`: pydantic's own union validation would feed a function to
    # AIMessage's validators, which expect a mapping.
    replies: Annotated[list[Reply] | None, SkipValidation()] = None
    """The script, in call order."""

    _calls: list[ModelCall] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @field_validator("replies", mode="before")
    @classmethod
    def _check_replies(cls, replies: object) -> list[Reply] | None:
        if replies is None:
            return None
        if not isinstance(replies, list | tuple):
            raise ValueError(f"replies must be a list, got {type(replies).__name__}")
        for reply in replies:
            if not (isinstance(reply, str | AIMessage) or callable(reply)):
                raise ValueError(
                    "Each scripted reply is a str, an AIMessage or a function of the prompt; "
                    f"got {type(reply).__name__}"
                )
        return list(replies)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.respond is None) == (self.replies is None):
            raise ValueError(
                "FunctionChatModel takes respond=<function of the messages> or "
                "replies=[...] (a script), exactly one of them"
            )
        return self

    @property
    def calls(self) -> list[ModelCall]:
        """Every call so far, in order (a copy)."""
        with self._lock:
            return list(self._calls)

    @property
    def remaining(self) -> int:
        """Scripted replies not yet used (0 for a `respond` model)."""
        with self._lock:
            return len(self.replies or []) - len(self._calls)

    @property
    def _llm_type(self) -> str:
        return "runpad-function"

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
        # No thread hop: replies are instant, and ordering stays deterministic.
        return self._reply(messages, kwargs.get("tools") or [])

    def _reply(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> ChatResult:
        tool_names = [tool["function"]["name"] for tool in tools if "function" in tool]
        with self._lock:
            index = len(self._calls)
            self._calls.append(ModelCall(messages=list(messages), tools=tool_names))
        reply: Reply
        if self.respond is not None:
            reply = self.respond
        elif self.replies is not None and index < len(self.replies):
            reply = self.replies[index]
        else:
            last = messages[-1].text if messages else "(no messages)"
            raise ScriptExhaustedError(
                f"FunctionChatModel was called {index + 1} times but its script has "
                f"{len(self.replies or [])} replies. The extra call's last message was:\n"
                f"{last[:2000]}"
            )
        if callable(reply):
            reply = reply(list(messages))
        return chat_result(reply, messages)
