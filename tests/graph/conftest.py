"""Scripted models for graph tests: replay files written by the test itself.

A replay file maps (role, n-th call of that role) to a reply. The graph counts calls in
its checkpointed state, so one script drives a run the same way in-process, across a
SIGKILL and a resume in another process, and after a process restart at an approval.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from runpad.sandbox.base import Sandbox
from runpad.sandbox.factory import open_sandbox
from runpad.sandbox.limits import Limits
from runpad.sandbox.manager import SandboxManager

Script = Callable[..., str]


def write_script(path: Path, **replies: list[str]) -> str:
    """Write a replay file; returns the model string that plays it ("replay:PATH")."""
    lines = [json.dumps({"runpad_record": 1, "created": "test"})]
    for role, texts in replies.items():
        for index, text in enumerate(texts):
            lines.append(json.dumps({"role": role, "index": index, "content": text, "usage": {}}))
    path.write_text("\n".join(lines) + "\n")
    return f"replay:{path}"


@pytest.fixture
def script(tmp_path: Path) -> Script:
    counter = iter(range(1000))

    def make(**replies: list[str]) -> str:
        return write_script(tmp_path / f"script-{next(counter)}.jsonl", **replies)

    return make


def code(source: str) -> str:
    """A coder reply with prose around the block, as real models write them."""
    return f"Here is the cell:\n```python\n{source}\n```\nIt prints the result."


class CountingManager(SandboxManager):
    """A real SandboxManager that counts the sessions it starts."""

    def __init__(self) -> None:
        self.started = 0

        def factory() -> Sandbox:
            self.started += 1
            return open_sandbox("local", limits=Limits(timeout=20))

        super().__init__("local", factory=factory)


@pytest.fixture
async def sandboxes(require_sandbox: None) -> AsyncIterator[CountingManager]:
    manager = CountingManager()
    yield manager
    await manager.aclose()
