"""Turn what the caller gave (a chat model, a string, nothing) into a chat model."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from typing import Any

from langchain_core.language_models import BaseChatModel

from runpad.errors import ConfigurationError, MissingDependencyError

__all__ = ["ModelSpec", "describe_model", "local_chat_model", "resolve_model"]

ModelSpec = str | BaseChatModel | None
"""A chat model object; "local", "local:1.5b", "local:smollm2", "local:PATH"; "replay:PATH";
"provider:model" for init_chat_model; None."""

NO_MODEL_HELP = (
    "No model is configured and the embedded offline model is not installed. Either pass a "
    "model, e.g. model='openai:gpt-4.1' (pip install langchain-openai; set OPENAI_API_KEY) or "
    "model='ollama:qwen2.5-coder' (pip install langchain-ollama), set RUNPAD_MODEL to such a "
    "string, or install the offline default with: pip install 'runpad[local]'."
)

# Provider prefixes of init_chat_model and the package each needs.
_PROVIDER_PACKAGES = {
    "openai": "langchain-openai",
    "anthropic": "langchain-anthropic",
    "ollama": "langchain-ollama",
    "google_genai": "langchain-google-genai",
    "groq": "langchain-groq",
    "mistralai": "langchain-mistralai",
    "bedrock": "langchain-aws",
    "fireworks": "langchain-fireworks",
    "together": "langchain-together",
    "deepseek": "langchain-deepseek",
    "huggingface": "langchain-huggingface",
}


def resolve_model(spec: ModelSpec) -> BaseChatModel:
    """A chat model for `spec`.

    - a `BaseChatModel` is used as it is;
    - "local" is the embedded Qwen2.5-Coder-0.5B-Instruct on llama.cpp; "local:1.5b" the
      1.5B coder, "local:smollm2" the 135M SmolLM2, "local:PATH" any GGUF file;
    - "replay:PATH" plays back a record file;
    - any other string goes to LangChain's `init_chat_model` ("openai:gpt-4.1");
    - None means `$RUNPAD_MODEL`, else "local" when it is installed.

    Raises:
        ConfigurationError: nothing usable is configured, or the string is malformed.
        MissingDependencyError: the provider's integration package is not installed.
        ModelUnavailable: a local model's weights are missing, corrupt or unreadable.
    """
    if isinstance(spec, BaseChatModel):
        return spec
    if spec is None:
        spec = os.environ.get("RUNPAD_MODEL") or ("local" if _local_installed() else None)
        if spec is None:
            raise ConfigurationError(NO_MODEL_HELP)
    spec = spec.strip()
    if spec == "local" or spec.startswith("local:"):
        return local_chat_model(spec.removeprefix("local").removeprefix(":"))
    if spec.startswith("replay:"):
        from runpad.models.replay import ReplayChatModel

        return ReplayChatModel(path=spec.removeprefix("replay:"))
    provider, _, name = spec.partition(":")
    if not name:
        raise ConfigurationError(
            f"Model {spec!r} is not of the form 'provider:model' (e.g. 'openai:gpt-4.1', "
            "'anthropic:claude-sonnet-4-5', 'ollama:qwen2.5-coder'), 'local' or 'replay:PATH'."
        )
    package = _PROVIDER_PACKAGES.get(provider)
    if package and importlib.util.find_spec(package.replace("-", "_")) is None:
        raise MissingDependencyError(package, f"pip install {package}")
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:
        raise MissingDependencyError("langchain", "pip install langchain") from exc
    try:
        model = init_chat_model(spec)
    except (ValueError, ImportError) as exc:
        raise ConfigurationError(f"Could not create model {spec!r}: {exc}") from exc
    if not isinstance(model, BaseChatModel):  # a configurable model wrapper
        raise ConfigurationError(f"Model {spec!r} did not resolve to a chat model.")
    return model


def local_chat_model(name: str = "", **settings: Any) -> BaseChatModel:
    """The embedded model `local:NAME` ("" the default, "1.5b", "smollm2", or a GGUF path),
    its weights checked now (the install hint at once, not at the first call).

    Raises:
        MissingDependencyError: llama-cpp-python is not installed.
        ModelUnavailable: the weights are missing, corrupt, unreadable or too big.
    """
    if importlib.util.find_spec("llama_cpp") is None:
        raise MissingDependencyError(
            "llama-cpp-python", "make setup (or pip install 'runpad[local]')"
        )
    from runpad.models.local import LocalChatModel, local_profile

    if local_profile(name).weights is None:
        model = LocalChatModel(model_path=name, **settings)
    else:
        model = LocalChatModel(weights=name or "0.5b", **settings)
    model.prepare()
    return model


def describe_model(spec: ModelSpec) -> str:
    """A short, secret-free name for logs and reports."""
    label = getattr(spec, "label", None)  # the embedded model names what it runs
    if isinstance(spec, BaseChatModel):
        return f"local: {label}" if isinstance(label, str) else type(spec).__name__
    return spec or os.environ.get("RUNPAD_MODEL") or "local (default)"


def _local_installed() -> bool:
    """llama-cpp-python and the default model's weights (joined, or their first package)."""
    if importlib.util.find_spec("llama_cpp") is None:
        return False
    from runpad.models.weights import QWEN_CODER_0_5B, models_dir

    if (models_dir() / QWEN_CODER_0_5B.file_name).is_file():
        return True
    try:
        importlib.metadata.distribution(QWEN_CODER_0_5B.parts[0].package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
