"""A run in its own process, for crash and restart tests (see test_resume.py).

    python crash_child.py run|resume CONFIG.json

CONFIG holds the task, model, paths, the thread id, an optional decision (resume) and an
optional kill point, where the process SIGKILLs itself: `["start", NODE, N]` when the
N-th task of NODE starts (every earlier step is checkpointed by then), or `["cell", N]`
while cell N runs. Every node update is appended to the events log, so the log shows
which nodes finished, in which process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from runpad.context import Context
from runpad.runner import aresume, arun


async def main(command: str, config: dict[str, Any]) -> None:
    log = Path(config["events"])
    seen: dict[str, int] = {}

    kill = config.get("kill_at") or [None]

    def on_event(mode: str, chunk: Any) -> None:
        with log.open("a") as handle:
            if mode == "updates":
                for node in chunk:
                    handle.write(json.dumps({"pid": os.getpid(), "node": node}) + "\n")
            elif mode == "tasks" and "input" in chunk:  # a task starts
                name = chunk["name"]
                seen[name] = seen.get(name, 0) + 1
                if kill[0] == "start" and kill[1] == name and kill[2] == seen[name]:
                    handle.close()
                    os.kill(os.getpid(), signal.SIGKILL)
            elif mode == "custom" and chunk.get("type") == "session_restored":
                restored = {"replayed": chunk["replayed"], "snapshot": chunk["snapshot_cell"]}
                handle.write(json.dumps({"pid": os.getpid(), "restored": restored}) + "\n")
            elif (
                mode == "custom"
                and chunk.get("type") == "cell"
                and kill[0] == "cell"
                and kill[1] == chunk["index"]
            ):
                handle.close()
                os.kill(os.getpid(), signal.SIGKILL)

    context = Context(
        model=config["model"],
        run_dir=config["run_dir"],
        approve=config["approve"],
        snapshot_max_mb=config.get("snapshot_max_mb", 64),
    )
    if command == "run":
        result = await arun(
            config["task"],
            thread_id=config["thread_id"],
            context=context,
            checkpointer=config["checkpoints"],
            on_event=on_event,
        )
    else:
        result = await aresume(
            config["thread_id"],
            decision=config.get("decision"),
            context=context,
            checkpointer=config["checkpoints"],
            on_event=on_event,
        )
    await context.aclose()
    summary = {
        "status": result.status,
        "answer": result.answer,
        "cells": [{"index": c["index"], "stdout": c["stdout"]} for c in result.cells],
        "pending": result.pending_approval,
    }
    Path(config["result"]).write_text(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], json.loads(Path(sys.argv[2]).read_text())))
