"""Drawing several different replies to one prompt, for voting."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

__all__ = ["sampling_model"]


def sampling_model(
    model: BaseChatModel, sample: int, temperature: float
) -> Runnable[LanguageModelInput, BaseMessage]:
    """The model as it draws sample number `sample` of several.

    Sample 0 is the model as configured (its best guess); every later one is drawn at
    `temperature`, with a seed of its own where the model takes a seed (the embedded
    model, or a provider model given one): the same seed and prompt would draw the same
    reply again.
    """
    if sample == 0:
        return model
    options: dict[str, Any] = {"temperature": temperature}
    seed = getattr(model, "seed", None)
    if isinstance(seed, int):
        options["seed"] = seed + sample
    return model.bind(**options)
