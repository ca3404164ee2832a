"""Crash and restart: runs killed with SIGKILL resume from their thread id.

Each run happens in a child process (crash_child.py) that kills itself at a chosen point:
as a node starts (the steps before it are checkpointed), or in the middle of a running
cell. A second process resumes the thread. The sequence of finished nodes across both
processes must equal that of a run that was never interrupted: no finished node is
redone, none is skipped, and cell 3 can use a variable made in cell 1 because the
executor rebuilt the kernel state.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.scripted import code, write_script

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

CHILD = Path(__file__).with_name("crash_child.py")
REPO = Path(__file__).resolve().parents[2]


def three_step_script(path: Path) -> str:
    return write_script(
        path,
        router=["ROUTE: code"],
        planner=["1. Set x | check: printed\n2. Set y | check: printed\n3. Add | check: printed"],
        coder=[code("x = 20\nprint(x)"), code("y = 2\nprint(y)"), code("print(x + y)")],
        reviewer=["VERDICT: next", "VERDICT: next", "VERDICT: done\nANSWER: 22"],
    )


def child(command: str, config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config_path = tmp_path / f"{command}-config.json"
    config_path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, str(CHILD), command, str(config_path)],
        cwd=REPO,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=180,
    )


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def base_config(tmp_path: Path, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "task": "Add x and y",
        "model": three_step_script(tmp_path / f"{name}.jsonl"),
        "run_dir": str(tmp_path / "runs"),
        "checkpoints": str(tmp_path / f"{name}.sqlite"),
        "thread_id": name,
        "approve": False,
        "events": str(tmp_path / f"{name}-events.jsonl"),
        "result": str(tmp_path / f"{name}-result.json"),
        **extra,
    }


@pytest.fixture(scope="module")
def reference_nodes(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The node sequence of the same run, never interrupted."""
    tmp_path = tmp_path_factory.mktemp("reference")
    config = base_config(tmp_path, "reference")
    finished = child("run", config, tmp_path)
    assert finished.returncode == 0, finished.stderr
    assert json.loads(Path(config["result"]).read_text())["answer"] == "22"
    return [event["node"] for event in events(Path(config["events"])) if "node" in event]


KILL_POINTS = {
    "as-the-first-coder-starts": ["start", "coder", 1],
    "between-cells-2-and-3": ["start", "coder", 3],
    "while-cell-3-runs": ["cell", 3],
    "as-the-reporter-starts": ["start", "reporter", 1],
}


@pytest.mark.parametrize("snapshots", [True, False], ids=["snapshot", "replay"])
@pytest.mark.parametrize("kill_at", list(KILL_POINTS.values()), ids=list(KILL_POINTS))
def test_sigkill_then_resume(
    kill_at: list[Any],
    snapshots: bool,
    reference_nodes: list[str],
    require_sandbox: None,
    tmp_path: Path,
) -> None:
    config = base_config(tmp_path, "crash", kill_at=kill_at, snapshot_max_mb=64 if snapshots else 0)
    killed = child("run", config, tmp_path)
    assert killed.returncode == -9, killed.stderr  # it really died by SIGKILL
    assert not Path(config["result"]).exists()

    resumed = child("resume", {**config, "kill_at": None}, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(Path(config["result"]).read_text())
    assert result["status"] == "answered"
    assert result["answer"] == "22"
    assert [cell["stdout"] for cell in result["cells"]] == ["20\n", "2\n", "22\n"]

    log = events(Path(config["events"]))
    assert [event["node"] for event in log if "node" in event] == reference_nodes
    pids = [event["pid"] for event in log if "node" in event]
    assert len(set(pids)) == 2  # two processes shared the work
    restored = [event["restored"] for event in log if "restored" in event]
    cells_before_kill = sum(
        1 for event in log if event.get("node") == "executor" and event["pid"] == pids[0]
    )
    if cells_before_kill and cells_before_kill < 3:
        # The stream said the session was restored: from the snapshot of the last cell that
        # ran, or by replaying every cell that ran.
        expected = (
            {"replayed": 0, "snapshot": cells_before_kill}
            if snapshots
            else {"replayed": cells_before_kill, "snapshot": None}
        )
        assert restored == [expected]
    else:
        assert restored == []  # no cell yet, or none left to run


def test_approval_survives_a_process_restart(require_sandbox: None, tmp_path: Path) -> None:
    config = base_config(tmp_path, "approval", approve=True)
    first = child("run", config, tmp_path)
    assert first.returncode == 0, first.stderr
    paused = json.loads(Path(config["result"]).read_text())
    assert paused["status"] == "awaiting_approval"
    assert paused["pending"]["code"] == "x = 20\nprint(x)"

    for decision in ("approve", "approve"):
        step = child("resume", {**config, "decision": decision}, tmp_path)
        assert step.returncode == 0, step.stderr
        assert json.loads(Path(config["result"]).read_text())["status"] == "awaiting_approval"

    edited = {"action": "edit", "code": "print(x + y + 100)"}
    last = child("resume", {**config, "decision": edited}, tmp_path)
    assert last.returncode == 0, last.stderr
    result = json.loads(Path(config["result"]).read_text())
    assert result["status"] == "answered"
    assert [cell["stdout"] for cell in result["cells"]] == ["20\n", "2\n", "122\n"]
    restored = [
        event["restored"] for event in events(Path(config["events"])) if "restored" in event
    ]
    # Each new process rebuilt the kernel from the snapshot of the cell before.
    assert restored == [{"replayed": 0, "snapshot": 1}, {"replayed": 0, "snapshot": 2}]
