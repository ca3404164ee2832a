"""One way for every role to ask its model: recorded, replayable and counted."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

from runpad.context import Context
from runpad.models.function import estimate_tokens
from runpad.models.replay import ReplayChatModel
from runpad.models.sampling import sampling_model
from runpad.prompts import render_prompt
from runpad.state import AnalysisState, Role

__all__ = ["ModelReply", "ask"]


@dataclass(frozen=True)
class ModelReply:
    """A reply's text and the state update that accounts for the call."""

    text: str
    tokens: int
    role: Role

    @property
    def update(self) -> dict[str, Any]:
        return {"model_calls": {self.role: 1}, "tokens": self.tokens}


async def ask(
    role: Role, prompt: str, state: AnalysisState, context: Context, *, sample: int = 0
) -> ModelReply:
    """Send the system prompt and `prompt` to the role's model and return its text.

    The n-th call of a role is numbered from the checkpointed state, so a replayed run
    gets the same reply for the same call even after a crash and resume. `sample` > 0
    draws a different reply than the model's own (`runpad.models.sampling_model`), for
    voting.
    """
    model = context.model_for(role)
    index = state.get("model_calls", {}).get(role, 0)
    if isinstance(model, ReplayChatModel):
        text = model.reply(role, index)
        usage = {"input_tokens": estimate_tokens(prompt), "output_tokens": estimate_tokens(text)}
    else:
        system = render_prompt("system", context.prompts_for(role))
        drawn = sampling_model(model, sample, context.sample_temperature)
        message = await drawn.ainvoke([SystemMessage(system), HumanMessage(prompt)])
        text = message.text
        metadata = getattr(message, "usage_metadata", None)
        usage = {
            "input_tokens": metadata["input_tokens"] if metadata else estimate_tokens(prompt),
            "output_tokens": metadata["output_tokens"] if metadata else estimate_tokens(text),
        }
    if context.recorder is not None:
        await asyncio.to_thread(context.recorder.record, role, index, text, usage)
    return ModelReply(text=text, tokens=usage["input_tokens"] + usage["output_tokens"], role=role)
