"""Chat models: resolution of model strings, the embedded offline model, record and replay,
and deterministic models for tests."""

from runpad.models.function import FunctionChatModel
from runpad.models.replay import ReplayChatModel, ReplyRecorder
from runpad.models.resolve import ModelSpec, describe_model, resolve_model
from runpad.models.sampling import sampling_model

__all__ = [
    "FunctionChatModel",
    "ModelSpec",
    "ReplayChatModel",
    "ReplyRecorder",
    "describe_model",
    "resolve_model",
    "sampling_model",
]
