"""Chat models: resolution of model strings, the embedded offline model, record and replay,
and the deterministic model for tests (`FunctionChatModel`: a function or a script)."""

from runpad.models.function import (
    FunctionChatModel,
    ModelCall,
    ScriptExhaustedError,
    tool_call_reply,
)
from runpad.models.replay import ReplayChatModel, ReplyRecorder
from runpad.models.resolve import ModelSpec, describe_model, resolve_model
from runpad.models.sampling import sampling_model

__all__ = [
    "FunctionChatModel",
    "ModelCall",
    "ModelSpec",
    "ReplayChatModel",
    "ReplyRecorder",
    "ScriptExhaustedError",
    "describe_model",
    "resolve_model",
    "sampling_model",
    "tool_call_reply",
]
