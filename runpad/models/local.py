"""The embedded offline models on llama-cpp-python.

`local` is Qwen2.5-Coder-0.5B-Instruct; `local:1.5b` the 1.5B coder (better, about three
times slower, installed on request); `local:smollm2` the 135M SmolLM2 for quick checks;
`local:PATH` any GGUF file. The packaged models' weights are pinned and verified by hash
(`runpad.models.weights`); a file given by path is checked to be readable GGUF. Either way
a model that needs more memory than is free is refused before llama.cpp loads it.

On a CPU the prompt is the cost (some 20 to 40 prompt tokens a second on two busy cores),
so the model keeps llama.cpp's state between calls: the key-value cache of the last call
is reused for the prefix the next prompt shares with it (the system prompt, the task), and
a RAM cache keeps the states of earlier calls, so that a repair prompt that shares a long
prefix with the coder's previous prompt starts from there rather than from the reviewer's
call in between. Each call's prompt tokens, the part of them read from the cache, and the
time to its first token are in its usage metadata and in `LocalChatModel.calls`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import InputTokenDetails, UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from runpad.errors import ConfigurationError, MissingDependencyError, ModelUnavailable
from runpad.models.gguf import GgufMetadata
from runpad.models.weights import (
    QWEN_CODER_0_5B,
    QWEN_CODER_1_5B,
    SMOLLM2_135M,
    PackagedWeights,
    check_gguf,
    ensure_weights,
)

__all__ = [
    "LOCAL_MODELS",
    "LocalCall",
    "LocalChatModel",
    "LocalModelProfile",
    "available_memory",
    "check_memory",
    "local_installed",
    "local_model_path",
    "local_profile",
]

logger = logging.getLogger(__name__)

_INSTALL = (
    "pip install 'runpad[local]' (llama-cpp-python builds from source: set "
    'CMAKE_ARGS="-DGGML_NATIVE=OFF"), then make setup'
)
_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "user"}

PromptSet = Literal["small", "full"]


@dataclass(frozen=True)
class LocalModelProfile:
    """What runpad knows of one embedded model and how the graph talks to it.

    Attributes:
        key: its name after `local:` ("0.5b", "1.5b", "smollm2").
        weights: the packaged, pinned weights (None for a user's file).
        prompts: "small": the short prompts of `runpad.prompts.SMALL_MODEL_PROMPTS`, with a
            one-step plan made without asking the model; "full": the graph's own prompts.
        n_ctx: the context window, fitted to the prompts the graph sends it.
        max_tokens: the longest reply.
        stop_after_code: end the reply where its first code block closes. Coder models
            explain their code at length after it, and every token costs on a CPU; the
            parser reads an unclosed block to its end.
    """

    key: str
    weights: PackagedWeights | None
    prompts: PromptSet = "small"
    n_ctx: int = 4096
    max_tokens: int = 512
    stop_after_code: bool = True

    @property
    def label(self) -> str:
        return self.weights.label if self.weights else "a GGUF file"


LOCAL_MODELS: dict[str, LocalModelProfile] = {
    "0.5b": LocalModelProfile("0.5b", QWEN_CODER_0_5B),
    "1.5b": LocalModelProfile("1.5b", QWEN_CODER_1_5B),
    "smollm2": LocalModelProfile("smollm2", SMOLLM2_135M),
}
"""The packaged models, by their name after `local:`; `local` alone is "0.5b"."""

# A file of the user's may be any model, often a larger one: the graph's own prompts.
_USER_FILE = LocalModelProfile("path", None, prompts="full")

# Room for llama.cpp's compute buffers (the logits of a 512-token batch over a 150k
# vocabulary alone are 300 MB) and the allocator, beyond weights and key-value cache.
_OVERHEAD_BYTES = 160 << 20
_BATCH = 512
_RAM_CACHE_BYTES = 256 << 20
_CGROUP1_USAGE = "/sys/fs/cgroup/memory/memory.usage_in_bytes"
_AFTER_CODE = "\n```\n\n"


def local_profile(name: str) -> LocalModelProfile:
    """The profile of `local:NAME` (`local` alone: the default); a path gets the generic one.

    Raises:
        ConfigurationError: NAME is neither a packaged model nor an existing file.
    """
    key = name.strip().lower() or "0.5b"
    aliases = {
        "qwen2.5-coder-0.5b": "0.5b",
        "qwen2.5-coder-1.5b": "1.5b",
        "smollm2-135m": "smollm2",
    }
    key = aliases.get(key, key)
    if key in LOCAL_MODELS:
        return LOCAL_MODELS[key]
    if Path(name).expanduser().is_file():
        return _USER_FILE
    names = ", ".join(f"local:{key}" for key in LOCAL_MODELS)
    raise ConfigurationError(
        f"No local model {name!r}: it is neither one of {names} nor an existing file "
        "(local:/path/to/model.gguf)."
    )


def local_installed() -> bool:
    """Whether llama-cpp-python is importable (the default model's weights are checked at
    load time, with a message that says how to install them)."""
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def local_model_path(name: str = "") -> Path:
    """The verified GGUF file of `local:NAME` (joined from its packages if need be).

    Raises:
        ModelUnavailable: the weights are missing, corrupt or unreadable (the message names
            the command that fixes it).
    """
    profile = local_profile(name)
    if profile.weights is None:
        path = Path(name).expanduser()
        check_gguf(path)
        return path
    return ensure_weights(profile.weights)


@dataclass(frozen=True)
class LocalCall:
    """One generation's cost: what was read, what was reused, how long it took.

    Attributes:
        prompt_tokens: the prompt's tokens (system prompt and messages, templated).
        cached_tokens: of those, the ones read from the kept state (not evaluated again).
        completion_tokens: tokens generated.
        first_token_s: seconds from the call to its first generated token.
        total_s: seconds for the whole call.
    """

    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    first_token_s: float
    total_s: float


class LocalChatModel(BaseChatModel):
    """An embedded GGUF model through llama.cpp, as a LangChain chat model.

    Example:
        ```python
        model = LocalChatModel()                  # Qwen2.5-Coder-0.5B-Instruct
        print(model.invoke("Write Python that prints 2 + 2.").content)
        LocalChatModel(weights="1.5b")            # the larger coder (make model-1.5b)
        LocalChatModel(model_path="/models/my.gguf")
        ```
    """

    weights: str = "0.5b"
    """A packaged model's name ("0.5b", "1.5b", "smollm2"); ignored when `model_path` is set."""
    model_path: str | None = None
    """A GGUF file of the user's, checked to be readable GGUF before it is loaded."""
    temperature: float = 0.2
    max_tokens: int | None = None
    n_ctx: int | None = None
    n_threads: int | None = None
    seed: int = 0

    _llama: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: list[LocalCall] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "runpad-local"

    @property
    def embedded(self) -> LocalModelProfile:
        """What this model is and which prompts and settings the graph gives it."""
        return _USER_FILE if self.model_path else local_profile(self.weights)

    @property
    def label(self) -> str:
        """The model's name for people ("Qwen2.5-Coder-0.5B-Instruct (Q4_K_M)", a path)."""
        return self.model_path or self.embedded.label

    @property
    def one_step_plan(self) -> bool:
        """Whether the planner gives this model's runs one step without asking it (the short
        prompts: small models asked to plan multiplied steps that each did the whole task)."""
        return self.embedded.prompts == "small"

    @property
    def calls(self) -> list[LocalCall]:
        """Every generation so far, in order (for benchmarks)."""
        return list(self._calls)

    def _context_size(self) -> int:
        return self.n_ctx or self.embedded.n_ctx

    def prepare(self) -> Path:
        """Everything short of loading: the weights joined and verified (or the user's file
        checked to be GGUF), and enough free memory for them. Returns the file's path.

        Raises:
            ModelUnavailable: the weights are missing, corrupt, unreadable or too big; the
                message names the command that fixes it.
        """
        if self.model_path:
            path = Path(self.model_path).expanduser()
            metadata = check_gguf(path)
        else:
            weights = self.embedded.weights
            assert weights is not None
            path = ensure_weights(weights)
            metadata = check_gguf(path, weights)
        check_memory(path, metadata, self._context_size())
        return path

    def load(self) -> None:
        """Load the model now (otherwise the first call does), after `prepare`'s checks."""
        with self._lock:
            self._load()

    def _load(self) -> Any:
        if self._llama is not None:
            return self._llama
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise MissingDependencyError("llama-cpp-python", _INSTALL) from exc
        path = self.prepare()
        try:
            llama = Llama(
                model_path=str(path),
                n_ctx=self._context_size(),
                n_batch=_BATCH,
                # All the cores this process may use: llama-cpp-python's default is half of
                # them (it assumes two threads a core).
                n_threads=self.n_threads or len(os.sched_getaffinity(0)) or 1,
                seed=self.seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:  # llama.cpp could not read it after all
            raise ModelUnavailable(
                f"llama.cpp could not load {path}: {exc}",
                "give a GGUF file that llama.cpp supports",
            ) from exc
        llama.set_cache(_state_cache(_RAM_CACHE_BYTES))
        self._llama = llama
        return llama

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
        if self.embedded.stop_after_code:
            # A closing fence and a blank line: the prose after a block, never an opening.
            stop = [*(stop or []), _AFTER_CODE]
        # llama.cpp's context is not re-entrant; one generation at a time per model.
        with self._lock:
            llama = self._load()
            _reset_timings(llama)
            started = time.perf_counter()
            completion = llama.create_chat_completion(
                messages=chat,
                temperature=kwargs.get("temperature", self.temperature),
                max_tokens=kwargs.get("max_tokens", self.max_tokens or self.embedded.max_tokens),
                seed=kwargs.get("seed", self.seed),
                stop=stop,
            )
            total = time.perf_counter() - started
            evaluated, generating = _timings(llama)
        text = completion["choices"][0]["message"]["content"] or ""
        usage = completion.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens", 0))
        call = LocalCall(
            prompt_tokens=prompt_tokens,
            cached_tokens=max(0, prompt_tokens - evaluated) if evaluated is not None else 0,
            completion_tokens=int(usage.get("completion_tokens", 0)),
            # The time before generation proper: templating, the cache, the prompt, and
            # the first token (which the prompt's last batch yields).
            first_token_s=round(max(0.0, total - generating), 3),
            total_s=round(total, 3),
        )
        self._calls.append(call)
        metadata = UsageMetadata(
            input_tokens=call.prompt_tokens,
            output_tokens=call.completion_tokens,
            total_tokens=call.prompt_tokens + call.completion_tokens,
            input_token_details=InputTokenDetails(cache_read=call.cached_tokens),
        )
        message = AIMessage(
            content=text,
            usage_metadata=metadata,
            response_metadata={
                "model_name": self.label,
                "first_token_s": call.first_token_s,
                "total_s": call.total_s,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def _state_cache(capacity: int) -> Any:
    """llama-cpp-python's RAM cache of prompt states, kept to its capacity for real.

    Each state it saves carries a copy of the logits buffer (up to 512 rows of the
    vocabulary: 311 MB for Qwen's 152k tokens), which its size accounting leaves out, so
    a 256 MiB cache grew past 2 GB in one suite. A restored state always evaluates at least
    one token again before sampling (`Llama.generate`), so only the last row is kept.
    """
    from llama_cpp.llama_cache import LlamaRAMCache

    class CompactRAMCache(LlamaRAMCache):
        @property
        def cache_size(self) -> int:
            return sum(
                state.llama_state_size + state.scores.nbytes for state in self.cache_state.values()
            )

        def __setitem__(self, key: Sequence[int], value: Any) -> None:
            value.scores = value.scores[-1:].copy()
            super().__setitem__(key, value)

    return CompactRAMCache(capacity_bytes=capacity)


def _reset_timings(llama: Any) -> None:
    try:
        import llama_cpp

        llama_cpp.llama_perf_context_reset(llama._ctx.ctx)
    except (AttributeError, ImportError):  # another llama-cpp-python: no timings
        pass


def _timings(llama: Any) -> tuple[int | None, float]:
    """(prompt tokens evaluated, seconds spent generating after the first token)."""
    try:
        import llama_cpp

        data = llama_cpp.llama_perf_context(llama._ctx.ctx)
    except (AttributeError, ImportError):
        return None, 0.0
    return int(data.n_p_eval), float(data.t_eval_ms) / 1000


def available_memory() -> int | None:
    """Bytes of memory this process can still take: the kernel's MemAvailable, lowered to
    what is left under a cgroup's limit; None where neither can be read."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:
            found.append(max(0, int(limit) - usage))
    return min(found) if found else None


def needed_memory(path: Path, metadata: GgufMetadata, n_ctx: int) -> int:
    """Bytes a model needs loaded: its weights, its key-value cache at `n_ctx` (16-bit), the
    state cache, and llama.cpp's compute buffers."""
    architecture = metadata.text("general.architecture") or ""
    layers = metadata.integer(f"{architecture}.block_count") or 0
    heads = metadata.integer(f"{architecture}.attention.head_count") or 1
    kv_heads = metadata.integer(f"{architecture}.attention.head_count_kv") or heads
    width = metadata.integer(f"{architecture}.embedding_length") or 0
    key_value = 2 * layers * n_ctx * kv_heads * (width // heads) * 2
    vocabulary = metadata.array_lengths.get("tokenizer.ggml.tokens", 0)
    logits = vocabulary * _BATCH * 4
    return path.stat().st_size + key_value + logits + _RAM_CACHE_BYTES + _OVERHEAD_BYTES


def check_memory(
    path: Path, metadata: GgufMetadata, n_ctx: int, available: int | None = None
) -> None:
    """Refuse, before loading, a model that needs more memory than is free.

    Raises:
        ModelUnavailable: with both numbers.
    """
    available = available if available is not None else available_memory()
    if available is None:
        return
    needed = needed_memory(path, metadata, n_ctx)
    if needed > available:
        raise ModelUnavailable(
            f"{path.name} needs about {needed / 2**30:.2f} GiB of memory loaded "
            f"(n_ctx {n_ctx}) and {available / 2**30:.2f} GiB is free.",
            "free memory, choose a smaller model (local:smollm2) or a smaller context",
        )
