"""Record a run's model replies, and play them back as a model.

File format (JSON Lines, UTF-8), documented in docs/record-replay.md:

    {"runpad_record": 1, "created": "2026-11-21T10:00:00+0000"}
    {"role": "planner", "index": 0, "content": "1. Load the file ...", "usage": {...}}
    {"role": "coder", "index": 0, "content": "```python\\n...\\n```", "usage": {...}}

`role` is the graph role that asked (router, planner, coder, reviewer, reporter) and
`index` counts that role's calls within the run. Replay looks replies up by (role, index),
and the graph keeps the counters in its checkpointed state, so a replayed run that crashed
and resumed still gets the right reply; a run whose prompts changed gets the recorded
replies all the same, which is how prompt changes are regression-tested.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import PrivateAttr

from runpad.errors import ConfigurationError
from runpad.models.function import chat_result

__all__ = ["RECORD_VERSION", "ReplayChatModel", "ReplyRecorder"]

RECORD_VERSION = 1


class ReplyRecorder:
    """Appends every model reply of a run to a record file (thread-safe, flushed each time)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or self.path.stat().st_size == 0:
            header = {
                "runpad_record": RECORD_VERSION,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            self.path.write_text(json.dumps(header) + "\n", encoding="utf-8")

    def record(self, role: str, index: int, content: str, usage: dict[str, int]) -> None:
        line = json.dumps({"role": role, "index": index, "content": content, "usage": usage})
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


class ReplayChatModel(BaseChatModel):
    """Plays back a record file: the reply for the n-th call of a role.

    Used by the graph through `reply(role, index)`. Called as a plain chat model (outside
    the graph) it returns the recorded replies in file order.

    Example:
        ```python
        result = runpad.run("How many rows?", model="replay:runs/first.jsonl")
        ```
    """

    path: str
    _replies: dict[tuple[str, int], str] = PrivateAttr(default_factory=dict)
    _ordered: list[str] = PrivateAttr(default_factory=list)
    _position: int = PrivateAttr(default=0)

    def model_post_init(self, context: Any, /) -> None:
        path = Path(self.path)
        if not path.is_file():
            raise ConfigurationError(
                f"No record file at {path}: record one with record='{path}' (CLI: --record), "
                "then replay it with model='replay:{path}'."
            )
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigurationError(f"{path}:{number} is not JSON: {exc}") from exc
            if "runpad_record" in entry:
                if entry["runpad_record"] != RECORD_VERSION:
                    raise ConfigurationError(
                        f"{path} is a version {entry['runpad_record']} record; this runpad "
                        f"reads version {RECORD_VERSION}."
                    )
                continue
            self._replies[(entry["role"], int(entry["index"]))] = entry["content"]
            self._ordered.append(entry["content"])

    @property
    def _llm_type(self) -> str:
        return "runpad-replay"

    def reply(self, role: str, index: int) -> str:
        try:
            return self._replies[(role, index)]
        except KeyError:
            raise ConfigurationError(
                f"The record {self.path} has no reply for call {index} of the {role}: the run "
                "went further than the recorded one. Record it again with a real model."
            ) from None

    def _generate(
        self,
        messages: Sequence[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self._position >= len(self._ordered):
            raise ConfigurationError(f"The record {self.path} has no more replies.")
        content = self._ordered[self._position]
        self._position += 1
        return chat_result(content, messages)
