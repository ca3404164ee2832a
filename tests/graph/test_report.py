"""Every run writes its answer, a Markdown report and a notebook that re-runs the same."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from runpad.context import Context
from runpad.report import execute_notebook, notebook_outputs, run_files
from runpad.runner import RunResult, aget_run, arun
from tests.fixtures.data import make_shop
from tests.fixtures.scripted import CountingManager, Script, code

pytestmark = pytest.mark.sandbox

PLAN = (
    "1. Load the file and count rows | check: the count is printed\n"
    "2. Plot the values and save a summary | check: a figure and a file"
)
CELLS = [
    "import pandas as pd\nframe = pd.read_csv('values.csv')\nprint(len(frame))\nframe.x.sum()",
    "print(undefined_later)  # noqa\n",  # replaced below: the static check would stop it
    "import matplotlib.pyplot as plt\n"
    "import sys\n"
    "print('to stderr', file=sys.stderr)\n"
    "frame.plot(y='x')\n"
    "plt.show()\n"
    "frame.describe().to_csv('summary.csv')\n"
    "print('saved')",
]


async def finished_run(script: Script, sandboxes: CountingManager, tmp_path: Path) -> RunResult:
    data = tmp_path / "values.csv"
    data.write_text("x\n1\n2\n3\n")
    model = script(
        router=["ROUTE: code"],
        planner=[PLAN],
        coder=[
            code(CELLS[0]),
            code("missing = frame.y.sum()\nprint(missing)"),  # an error in the kernel
            code(CELLS[2]),
        ],
        reviewer=["VERDICT: next", "VERDICT: done\nANSWER: 3 rows; the values sum to 6."],
    )
    context = Context(model=model, sandboxes=sandboxes, run_dir=str(tmp_path / "runs"))
    return await arun(
        "Count the rows of values.csv and plot x",
        files=[data],
        context=context,
        checkpointer=str(tmp_path / "runs" / "checkpoints.sqlite"),
    )


async def test_run_writes_answer_report_notebook_and_result(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    result = await finished_run(script, sandboxes, tmp_path)
    assert result.status == "answered", result.stop_reason
    assert [cell["ok"] for cell in result.cells] == [True, False, True]
    assert result.output_dir == str(tmp_path / "runs" / result.thread_id)
    files = run_files(result.output_dir)

    assert files.answer.read_text() == "3 rows; the values sum to 6.\n"

    report = files.report.read_text()
    assert report.startswith("# Count the rows of values.csv and plot x\n")
    assert "| status | answered |" in report
    assert "1. Load the file and count rows — *check:* the count is printed" in report
    assert "frame = pd.read_csv('values.csv')" in report
    assert "Error: `AttributeError`" in report
    assert "![figure-1.png](artifacts/cell-3/figure-1.png)" in report
    assert "- [summary.csv](artifacts/cell-3/summary.csv) (text/csv," in report
    assert (files.directory / "artifacts/cell-3/figure-1.png").read_bytes()[:4] == b"\x89PNG"

    notebook = nbformat.read(str(files.notebook), as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "runpad"
    assert notebook.metadata["runpad"]["files"] == [str(tmp_path / "values.csv")]
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert next(cell.source for cell in code_cells) == CELLS[0]
    headings = [c.source for c in notebook.cells if c.cell_type == "markdown"]
    assert "## Step 1: Load the file and count rows" in headings
    assert "## Step 2: Plot the values and save a summary" in headings
    saved = notebook_outputs(notebook)
    assert saved[0] == {
        "stdout": "3\n",
        "stderr": "",
        "result": "np.int64(6)",
        "images": 0,
        "error": None,
    }
    assert saved[1]["error"][0] == "AttributeError"
    assert saved[2]["images"] == 1
    assert saved[2]["stderr"] == "to stderr\n"

    run_json = json.loads(files.result.read_text())
    assert run_json["status"] == "answered"
    assert run_json["thread_id"] == result.thread_id
    assert len(run_json["cells"]) == 3


async def test_notebook_reruns_in_a_sandbox_kernel_with_the_same_outputs(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    result = await finished_run(script, sandboxes, tmp_path)
    assert result.output_dir is not None
    saved = nbformat.read(str(run_files(result.output_dir).notebook), as_version=4)

    rerun = await execute_notebook(nbformat.from_dict(saved))

    assert notebook_outputs(rerun) == notebook_outputs(saved)
    # It ran inside the sandbox: the uploaded file was in the work dir, as in the run.
    assert rerun.cells[2].outputs[0].text == "3\n"


async def test_a_finished_run_reads_back_from_the_store(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    result = await finished_run(script, sandboxes, tmp_path)

    again = await aget_run(
        result.thread_id,
        checkpointer=str(tmp_path / "runs" / "checkpoints.sqlite"),
        run_dir=tmp_path / "runs",
    )

    assert again == result


async def test_sql_cells_become_markdown_and_their_results_reach_the_rerun(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    shop = make_shop(tmp_path / "shop.db")
    model = script(
        router=["ROUTE: code"],
        planner=[
            "1. [sql] Total per region | check: one row per region\n"
            "2. Read the result in Python | check: the largest is printed"
        ],
        coder=[
            "```sql\nSELECT c.region, SUM(o.amount) AS total FROM orders o\n"
            "JOIN customers c ON c.id = o.customer_id GROUP BY c.region\n```",
            code("import pandas as pd\nprint(pd.read_csv('query-1.csv').total.max())"),
        ],
        reviewer=["VERDICT: next", "VERDICT: done\nANSWER: south, 25.0"],
    )
    context = Context(
        model=model,
        sandboxes=sandboxes,
        run_dir=str(tmp_path / "runs"),
        databases={"shop": f"sqlite:///{shop}"},
    )
    async with context:
        result = await arun("Which region sold most?", context=context)
    assert result.status == "answered", result.stop_reason
    assert result.output_dir is not None
    notebook = nbformat.read(str(run_files(result.output_dir).notebook), as_version=4)

    sql_cell = next(c for c in notebook.cells if "SELECT c.region" in c.source)
    assert sql_cell.cell_type == "markdown"
    assert "```sql" in sql_cell.source
    (csv_copy,) = notebook.metadata["runpad"]["files"]
    assert csv_copy.endswith("artifacts/cell-1/query-1.csv")

    rerun = await execute_notebook(notebook)

    assert notebook_outputs(rerun) == notebook_outputs(notebook)  # the Python cell
    assert notebook_outputs(rerun)[0]["stdout"] == "25.0\n"
