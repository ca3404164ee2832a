"""Execute the notebooks in place, so that their saved outputs are current: `make notebooks`.

The test suite executes them too (tests/graph/test_notebooks.py), in a copy of this folder.
Without RUNPAD_MODEL they play back the recorded replies in records/.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def execute(path: Path, workdir: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(str(path), as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    ).execute()
    return notebook


def main(names: list[str]) -> None:
    for path in [HERE / name for name in names] or sorted(HERE.glob("*.ipynb")):
        print(f"executing {path.name}", flush=True)
        nbformat.write(execute(path, HERE), str(path))


if __name__ == "__main__":
    main(sys.argv[1:])
