"""A chat model backed by a plain function: deterministic replies for tests and demos."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult

__all__ = ["FunctionChatModel", "estimate_tokens"]


def estimate_tokens(text: str) -> int:
    """About four characters a token, for models that report no usage."""
    return max(1, len(text) // 4)


class FunctionChatModel(BaseChatModel):
    """Replies with `respond(messages)`. Stateless, so it survives a crash and resume.

    Example:
        ```python
        def respond(messages):
            if "Write one cell" in messages[-1].text:
                return "```python\\nprint(6 * 7)\\n```"
            return "VERDICT: done\\nANSWER: 42"

        runpad.run("What is 6 * 7?", model=FunctionChatModel(respond=respond))
        ```
    """

    respond: Callable[[list[BaseMessage]], str]

    @property
    def _llm_type(self) -> str:
        return "runpad-function"

    def _generate(
        self,
        messages: Sequence[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self.respond(list(messages))
        prompt = sum(estimate_tokens(message.text) for message in messages)
        usage = UsageMetadata(
            input_tokens=prompt,
            output_tokens=estimate_tokens(text),
            total_tokens=prompt + estimate_tokens(text),
        )
        message = AIMessage(content=text, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])
