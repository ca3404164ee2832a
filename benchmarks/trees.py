"""The runpad package as it was at a git ref, for the benchmarks that measure before/after
side by side (`cell_overhead.py`, `resume_overhead.py`): their child processes run with the
old tree's folder first on `PYTHONPATH`."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def export_tree(ref: str, into: Path) -> Path:
    """`runpad/` at `ref`, extracted into `into`; returns `into`."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref, "runpad"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into
