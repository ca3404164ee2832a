"""The example notebooks run, and give the outputs they were saved with: they never rot.

Each runs in a copy of notebooks/ with nbclient and the Python kernel of this environment;
without RUNPAD_MODEL they play back the model replies recorded in notebooks/records/, while
the code in those replies really runs in the sandbox.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.sandbox, pytest.mark.slow, pytest.mark.usefixtures("require_sandbox")]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
# What differs from one run to the next: thread ids, tool call ids, timings, token counts.
_VOLATILE = [
    (re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}"), "<thread>"),
    (re.compile(r"call_[0-9a-f]{12}"), "<call>"),
    (re.compile(r"\d+ ms\b"), "<ms>"),
    (re.compile(r"model tokens \| \d+"), "model tokens | <n>"),
]


def outputs(notebook: nbformat.NotebookNode) -> list[list[tuple[str, str]]]:
    """Each code cell's outputs as (kind, text), with what varies between runs masked."""
    cells = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        shown: list[tuple[str, str]] = []
        for output in cell.outputs:
            text: Any = output.get("text") or output.get("data", {}).get("text/plain", "")
            if output.output_type == "error":
                text = f"{output.ename}: {output.evalue}"
            for pattern, mask in _VOLATILE:
                text = pattern.sub(mask, text)
            shown.append((output.output_type, text))
        cells.append(shown)
    return cells


@pytest.mark.parametrize(
    "name", sorted(path.name for path in NOTEBOOKS.glob("*.ipynb")), ids=lambda name: name
)
def test_notebook_runs_and_gives_its_saved_outputs(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNPAD_MODEL", raising=False)  # the recorded replies, offline
    shutil.copytree(NOTEBOOKS / "records", tmp_path / "records")
    saved = nbformat.read(str(NOTEBOOKS / name), as_version=4)
    notebook = nbformat.from_dict(saved)

    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()

    assert outputs(notebook) == outputs(saved)
    assert not [kind for cell in outputs(notebook) for kind, _ in cell if kind == "error"]
