"""`runpad demo` on the embedded defaults: the local model, the local sandbox, SQLite.

What the small model answers is not asserted (the benchmarks measure that); the demo must run
every question to an end, show what the code computed, and write a report of each run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runpad.demo import DEMO_TASKS

pytestmark = [pytest.mark.sandbox, pytest.mark.slow, pytest.mark.usefixtures("require_sandbox")]


@pytest.mark.timeout(960)  # the subprocess's own 900 s, on a busy machine
@pytest.mark.usefixtures("local_model_installed")
def test_the_demo_runs_offline_on_the_embedded_defaults(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "RUNPAD_MODEL"}

    result = subprocess.run(
        [sys.executable, "-m", "runpad", "demo", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "120"},
        timeout=900,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    for demo in DEMO_TASKS:
        assert demo.task in result.stderr
    assert "what the code printed" in result.stderr
    runs = sorted((tmp_path / "demo").glob("*/report.md"))
    assert len(runs) == len(DEMO_TASKS)
    for report in runs:
        text = report.read_text()
        assert "| status | " in text
        assert (report.parent / "notebook.ipynb").is_file()
        assert (report.parent / "answer.md").read_text().strip()
    assert (tmp_path / "demo" / "checkpoints.sqlite").is_file()
