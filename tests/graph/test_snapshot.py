"""Kernel snapshots: a resumed run loads the namespace instead of running past cells again.

Each run pauses for approval before every cell; the last cell is approved from a new
sandbox manager, so it runs in a fresh kernel that the executor must rebuild, as after a
crash or on another machine. Every case is compared with the same run never interrupted:
the snapshot must give the same answer, and where it cannot be used (an open file, over the
size limit, a corrupted file, another runpad, a value that fails to load) the run replays
the cells and says why, never running on a wrong state.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

import runpad
from runpad.context import Context
from runpad.graphs import build_analysis_graph
from runpad.runner import RunResult, aresume, arun, open_checkpointer
from runpad.sandbox.limits import Limits
from runpad.sandbox.manager import SandboxManager
from tests.fixtures.scripted import code, write_script

pytestmark = [pytest.mark.sandbox]

FRAME_CELLS = [
    # Cell 1: a data frame, a lambda, the random generator's state, files in the work dir.
    "import os, random\n"
    "import pandas as pd\n"
    "random.seed(7)\n"
    "frame = pd.DataFrame({'a': [1, 2, 3]})\n"
    "double = lambda v: v * 2\n"
    "same = frame\n"
    "frame.to_csv('frame.csv', index=False)\n"
    "open('scratch.txt', 'w').write('gone later')\n"
    "os.makedirs('empty/inner')\n"
    "print(len(frame))",
    # Cell 2: a function that reads a global assigned later, a deleted file.
    "frame['b'] = double(frame['a'])\n"
    "scale = 10\n"
    "def total():\n"
    "    return int(frame['b'].sum()) * scale\n"
    "os.remove('scratch.txt')\n"
    "print(frame.shape)",
    # Cell 3, in the fresh kernel: everything above must hold as it did.
    "scale = 100\n"
    "same['c'] = 1\n"
    "print(total(), frame.shape, round(random.random(), 6), pd.read_csv('frame.csv').a.sum(),\n"
    "      os.path.exists('scratch.txt'), os.path.isdir('empty/inner'))",
]
FILE_HANDLE_CELLS = [
    "x = 20\nprint(x)",
    "log = open('log.txt', 'w')\nlog.write('kept\\n')\nlog.flush()\ny = 2\nprint(y)",
    "print(x + y, open('log.txt').read().strip())",
]
LARGE_CELLS = [
    "import numpy as np\nbig = np.ones(300_000)\nprint(big.nbytes)",
    "y = 2\nprint(y)",
    "print(int(big.sum()) + y)",
]
FAILS_TO_LOAD_CELLS = [
    "def explode():\n"
    "    raise RuntimeError('this object cannot be loaded')\n"
    "class Tricky:\n"
    "    def __reduce__(self):\n"
    "        return (explode, ())\n"
    "tricky = Tricky()\n"
    "x = 20\n"
    "print(x)",
    "y = 2\nprint(y)",
    "print(x + y, type(tricky).__name__)",
]


def script_for(path: Path, cells: list[str]) -> str:
    steps = "\n".join(f"{n}. Cell {n} | check: printed" for n in range(1, len(cells) + 1))
    return write_script(
        path,
        router=["ROUTE: code"],
        planner=[steps],
        coder=[code(cell) for cell in cells],
        reviewer=["VERDICT: next"] * (len(cells) - 1) + ["VERDICT: done\nANSWER: done"],
    )


def new_manager() -> SandboxManager:
    return SandboxManager("local", limits=Limits(timeout=30))


async def uninterrupted(tmp_path: Path, cells: list[str], **settings: Any) -> RunResult:
    manager = new_manager()
    model = script_for(tmp_path / "reference.jsonl", cells)
    context = Context(model=model, sandboxes=manager, run_dir=str(tmp_path / "ref"), **settings)
    try:
        return await arun("Run the cells", context=context, checkpointer=str(tmp_path / "r.db"))
    finally:
        await manager.aclose()


class Interrupted:
    """A run whose last cell runs in a new kernel, rebuilt from the checkpoint."""

    def __init__(self, tmp_path: Path, cells: list[str], **settings: Any) -> None:
        self.tmp_path = tmp_path
        self.cells = cells
        self.settings = settings
        self.model = script_for(tmp_path / "interrupted.jsonl", cells)
        self.checkpoints = str(tmp_path / "checkpoints.sqlite")
        self.events: list[dict[str, Any]] = []

    def context(self, manager: SandboxManager) -> Context:
        return Context(
            model=self.model,
            sandboxes=manager,
            run_dir=str(self.tmp_path / "runs"),
            approve=True,
            **self.settings,
        )

    def on_event(self, mode: str, chunk: Any) -> None:
        if mode == "custom" and chunk.get("type") in ("session_restored", "snapshot_skipped"):
            self.events.append(chunk)

    async def until_last_cell(self) -> RunResult:
        """Run every cell but the last, in one kernel; stop at the last cell's approval."""
        manager = new_manager()
        context = self.context(manager)
        try:
            result = await arun(
                "Run the cells",
                thread_id="t",
                context=context,
                checkpointer=self.checkpoints,
                on_event=self.on_event,
            )
            for _ in self.cells[:-1]:
                result = await aresume(
                    "t",
                    decision="approve",
                    context=context,
                    checkpointer=self.checkpoints,
                    on_event=self.on_event,
                )
        finally:
            await manager.aclose()
        assert result.status == "awaiting_approval"
        assert len(result.cells) == len(self.cells) - 1
        return result

    async def finish_in_a_new_kernel(self) -> RunResult:
        manager = new_manager()
        try:
            return await aresume(
                "t",
                decision="approve",
                context=self.context(manager),
                checkpointer=self.checkpoints,
                on_event=self.on_event,
            )
        finally:
            await manager.aclose()

    def restored(self) -> dict[str, Any]:
        found = [event for event in self.events if event["type"] == "session_restored"]
        assert len(found) == 1, self.events
        return found[0]


def outputs(result: RunResult) -> list[str]:
    return [cell["stdout"] for cell in result.cells]


async def test_frame_lambda_and_files_resume_from_the_snapshot(
    require_sandbox: None, tmp_path: Path
) -> None:
    reference = await uninterrupted(tmp_path, FRAME_CELLS)
    run = Interrupted(tmp_path, FRAME_CELLS)
    paused = await run.until_last_cell()
    snapshots = sorted((tmp_path / "runs" / "t" / "snapshots").glob("*.pkl"))
    assert [path.name for path in snapshots] == ["cell-1.pkl", "cell-2.pkl"]  # older pruned
    result = await run.finish_in_a_new_kernel()
    assert result.status == "answered"
    assert outputs(result) == outputs(reference)
    assert outputs(result)[2] == "1200 (3, 3) 0.323833 6 False True\n"
    restored = run.restored()
    assert (restored["snapshot_cell"], restored["replayed"], restored["notice"]) == (2, 0, None)
    assert "from the snapshot after cell 2" in restored["message"]
    assert paused.cells[0]["ok"]


async def test_an_open_file_falls_back_to_replaying_the_cells_after_it(
    require_sandbox: None, tmp_path: Path
) -> None:
    reference = await uninterrupted(tmp_path, FILE_HANDLE_CELLS)
    run = Interrupted(tmp_path, FILE_HANDLE_CELLS)
    await run.until_last_cell()
    skipped = [event for event in run.events if event["type"] == "snapshot_skipped"]
    assert len(skipped) == 1
    assert "`log` (TextIOWrapper)" in skipped[0]["message"]
    result = await run.finish_in_a_new_kernel()
    assert outputs(result) == outputs(reference) == ["20\n", "2\n", "22 kept\n"]
    restored = run.restored()
    assert (restored["snapshot_cell"], restored["replayed"]) == (1, 1)
    assert "`log` (TextIOWrapper) cannot be saved" in restored["message"]


async def test_a_namespace_over_the_limit_is_replayed(
    require_sandbox: None, tmp_path: Path
) -> None:
    reference = await uninterrupted(tmp_path, LARGE_CELLS, snapshot_max_mb=1)
    run = Interrupted(tmp_path, LARGE_CELLS, snapshot_max_mb=1)
    await run.until_last_cell()
    result = await run.finish_in_a_new_kernel()
    assert outputs(result) == outputs(reference) == ["2400000\n", "2\n", "300002\n"]
    restored = run.restored()
    assert (restored["snapshot_cell"], restored["replayed"]) == (None, 2)
    assert "larger than the snapshot limit of 1.0 MiB" in restored["notice"]
    assert "`big`" in restored["notice"]
    assert not (tmp_path / "runs" / "t" / "snapshots").exists()


async def test_a_corrupted_snapshot_is_never_loaded(require_sandbox: None, tmp_path: Path) -> None:
    reference = await uninterrupted(tmp_path, FRAME_CELLS)
    run = Interrupted(tmp_path, FRAME_CELLS)
    await run.until_last_cell()
    latest = tmp_path / "runs" / "t" / "snapshots" / "cell-2.pkl"
    data = bytearray(latest.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    latest.write_bytes(bytes(data))
    result = await run.finish_in_a_new_kernel()
    assert outputs(result) == outputs(reference)
    restored = run.restored()
    assert (restored["snapshot_cell"], restored["replayed"]) == (None, 2)
    assert "does not match its sha256" in restored["notice"]


async def test_a_snapshot_of_another_runpad_is_ignored(
    require_sandbox: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Interrupted(tmp_path, FILE_HANDLE_CELLS)
    await run.until_last_cell()
    monkeypatch.setattr(runpad, "__version__", "99.0")
    result = await run.finish_in_a_new_kernel()
    assert outputs(result) == ["20\n", "2\n", "22 kept\n"]
    restored = run.restored()
    assert (restored["snapshot_cell"], restored["replayed"]) == (None, 2)
    assert "taken by runpad 0.1.0, this is runpad 99.0" in restored["notice"]


async def test_a_snapshot_that_fails_to_load_restarts_and_replays(
    require_sandbox: None, tmp_path: Path
) -> None:
    reference = await uninterrupted(tmp_path, FAILS_TO_LOAD_CELLS)
    run = Interrupted(tmp_path, FAILS_TO_LOAD_CELLS)
    await run.until_last_cell()
    result = await run.finish_in_a_new_kernel()
    assert outputs(result) == outputs(reference) == ["20\n", "2\n", "22 Tricky\n"]
    restored = run.restored()
    assert (restored["snapshot_cell"], restored["replayed"]) == (None, 2)
    assert "could not be loaded" in restored["notice"]
    assert "this object cannot be loaded" in restored["notice"]


async def test_snapshots_off_replays_every_cell(require_sandbox: None, tmp_path: Path) -> None:
    run = Interrupted(tmp_path, FILE_HANDLE_CELLS, snapshot_max_mb=0)
    await run.until_last_cell()
    result = await run.finish_in_a_new_kernel()
    assert outputs(result) == ["20\n", "2\n", "22 kept\n"]
    restored = run.restored()
    assert (restored["snapshot_cell"], restored["replayed"], restored["notice"]) == (None, 2, None)
    assert not (tmp_path / "runs" / "t" / "snapshots").exists()


async def test_the_state_references_the_file_by_hash(require_sandbox: None, tmp_path: Path) -> None:
    run = Interrupted(tmp_path, FILE_HANDLE_CELLS)
    await run.until_last_cell()
    graph_state = await _state(run)
    ref = graph_state["snapshot"]
    assert ref["cell"] == 1
    assert ref["variables"] == ["x"]
    assert ref["sha256"] == hashlib.sha256(Path(ref["path"]).read_bytes()).hexdigest()
    assert ref["size"] == Path(ref["path"]).stat().st_size
    assert ref["runpad"] == runpad.__version__
    assert ref["python"].startswith("CPython 3.")
    assert "`log`" in graph_state["snapshot_note"]


async def _state(run: Interrupted) -> dict[str, Any]:
    async with open_checkpointer(run.checkpoints, run.tmp_path) as saver:
        graph = build_analysis_graph().compile(checkpointer=saver)
        snapshot = await graph.aget_state({"configurable": {"thread_id": "t"}})
    return dict(snapshot.values)
