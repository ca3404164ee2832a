"""The HTML report of runs that went wrong or grew large, rendered from hand-made results.

The report of a real run, in a real browser, is tests/graph/test_html_report.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from runpad.report import render_html, write_html
from runpad.report.html import (
    MAX_FIGURE_BYTES,
    MAX_TABLE_ROWS,
    MAX_TEXT_CHARS,
    MAX_TOTAL_TEXT_CHARS,
)
from runpad.runner import RunResult
from runpad.sandbox.results import format_size
from runpad.state import ArtifactRef, CellRecord, Decision, PlanStep, Verdict


def cell(index: int, code: str, **fields: Any) -> CellRecord:
    record: CellRecord = {
        "index": index,
        "step": 0,
        "attempt": 0,
        "language": "python",
        "code": code,
        "stdout": "",
        "stderr": "",
        "result": None,
        "error": None,
        "ok": True,
        "duration_ms": 12.0,
        "timed_out": False,
        "restarted": False,
        "images": 0,
        "artifacts": [],
    }
    record.update(fields)  # type: ignore[typeddict-item]
    return record


def verdict(cell: int, decision: Decision, notes: str | None = None, step: int = 1) -> Verdict:
    return {"type": "verdict", "step": step, "cell": cell, "decision": decision, "notes": notes}


def step(description: str, kind: str = "python") -> PlanStep:
    return {"description": description, "success_criterion": "it printed", "kind": kind}  # type: ignore[typeddict-item]


def artifact(path: Path, mime_type: str, index: int = 1) -> ArtifactRef:
    return {
        "name": path.name,
        "path": str(path),
        "mime_type": mime_type,
        "size": path.stat().st_size,
        "sha256": "",
        "cell": index,
    }


def run(**fields: Any) -> RunResult:
    defaults: dict[str, Any] = {
        "thread_id": "t1",
        "status": "answered",
        "answer": "42",
        "stop_reason": None,
        "task": "What is six times seven?",
    }
    return RunResult(**{**defaults, **fields})


def text_of(page: str) -> str:
    """The page's visible text, roughly: tags and the style block removed."""
    body = page.split("<body>", 1)[1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_a_run_that_stopped_without_an_answer_says_why_first() -> None:
    reason = "Step 1 failed 3 times; the last problem: ZeroDivisionError: division by zero"
    failing = cell(
        1,
        "1 / 0",
        ok=False,
        error={"name": "ZeroDivisionError", "value": "division by zero", "traceback": ""},
    )
    verdicts = [verdict(1, "stop", reason)]
    result = run(
        status="stopped",
        answer=None,
        stop_reason=reason,
        plan=[step("Divide"), step("Print")],
        cells=[failing],
        verdicts=verdicts,
    )

    text = text_of(render_html(result))

    assert text.index(f"No answer (stopped): {reason}") < text.index("Plan")
    assert text.index("Answer") < text.index("No answer")
    assert "failed Divide" in text
    assert "not reached Print" in text
    assert "reviewer: stopped" in text


def test_a_run_waiting_for_approval_shows_the_cell_that_waits() -> None:
    result = run(
        status="awaiting_approval",
        answer=None,
        plan=[step("Count")],
        pending_approval={"code": "import os\nos.listdir('.')", "language": "python"},
    )

    page = render_html(result)

    assert "runpad resume t1 --decision approve|edit|reject" in page
    assert 'id="pending"' in page
    assert '<span class="kn">import</span>' in page
    assert "waiting Count" in text_of(page)


def test_each_language_gets_its_own_highlighting() -> None:
    cells = [
        cell(1, "SELECT region FROM orders WHERE amount > 10", language="sql"),
        cell(2, "digraph { a -> b }", language="dot"),
        cell(3, "echo hi | wc -l", language="shell"),
        cell(4, "def f():\n    return 1", language="python"),
        cell(5, "some new language", language="cobol-2077"),
    ]

    page = render_html(run(cells=cells))

    assert '<span class="k">SELECT</span>' in page  # SQL keyword
    assert '<span class="k">digraph</span>' in page  # Graphviz keyword
    assert '<span class="nb">echo</span>' in page  # a shell builtin
    assert '<span class="k">def</span>' in page
    assert "some new language" in page  # an unknown language is shown plain


def test_the_page_escapes_what_the_model_and_the_code_wrote() -> None:
    hostile = "<script>alert(1)</script><img src=http://example.invalid/x>"
    result = run(
        task=hostile,
        answer=hostile,
        cells=[cell(1, hostile, stdout=hostile, language="text")],
    )

    page = render_html(result)

    assert "<script>" not in page
    assert "<img src=http" not in page
    assert "&lt;script&gt;" in page


def test_a_huge_output_is_cut_with_a_note_and_the_page_stays_small(tmp_path: Path) -> None:
    huge = "first line\n" + "x" * 20_000_000 + "\nlast line\n"
    table = tmp_path / "wide.csv"
    table.write_text("\n".join(",".join("y" * 150 for _ in range(20)) for _ in range(31)))
    many = []
    for number in range(150):
        made = tmp_path / f"part-{number}.txt"
        made.write_text("z")
        many.append(artifact(made, "text/plain"))
    files = [artifact(table, "text/csv"), *many]
    cells = [
        cell(number, f"print({number})", stdout=huge, artifacts=files) for number in range(1, 201)
    ]

    page = render_html(run(cells=cells), tmp_path)

    assert len(page) < MAX_TOTAL_TEXT_CHARS + 200 * 4_000 + 100_000
    assert "first line\n" in page  # the head
    assert "last line" in page  # and the tail of the first cell
    assert "characters are left out of the middle" in page
    assert "the report&#39;s text budget is spent" in page
    assert "Not shown: the report&#39;s text budget is spent." in page  # the later tables
    assert "and 51 more files in the run folder" in page  # the first cells list 100
    assert "Files: 151 more files in the run folder" in page  # the last ones none


def test_long_code_keeps_its_head_and_tail(tmp_path: Path) -> None:
    code = "x = 1\n" * MAX_TEXT_CHARS
    page = write_html(run(cells=[cell(1, code)]), tmp_path / "report.html").read_text()

    assert page.count("left out of the middle") == 1


def test_a_long_table_shows_its_first_rows_with_a_note(tmp_path: Path) -> None:
    table = tmp_path / "rows.csv"
    table.write_text("n,square\n" + "".join(f"{n},{n * n}\n" for n in range(1000)))
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{n}" for n in range(50)) + "\n" + ",".join("1" * 50) + "\n")
    result = run(
        cells=[
            cell(1, "save()", artifacts=[artifact(table, "text/csv"), artifact(wide, "text/csv")])
        ]
    )

    page = render_html(result, tmp_path)

    assert page.count("<tr><td>") == MAX_TABLE_ROWS + 1
    assert f"<td>{MAX_TABLE_ROWS - 1}</td>" in page
    assert f"<td>{MAX_TABLE_ROWS}</td>" not in page
    assert (
        f"Showing the first {MAX_TABLE_ROWS} of 1,000 rows; the whole table is in rows.csv." in page
    )
    assert "the first 20 of 50 columns" in page
    assert '<a href="rows.csv">rows.csv</a>' in page


def test_a_figure_too_large_to_inline_is_linked(tmp_path: Path) -> None:
    small = tmp_path / "small.svg"
    small.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (MAX_FIGURE_BYTES + 1))
    missing = tmp_path / "gone.png"
    missing.write_bytes(b"\x89PNG")
    figures = [
        artifact(small, "image/svg+xml"),
        artifact(big, "image/png"),
        artifact(missing, "image/png"),
    ]
    missing.unlink()

    page = render_html(run(cells=[cell(1, "draw()", artifacts=figures)]), tmp_path)

    assert page.count('<img src="data:image/svg+xml;base64,') == 1
    limit = format_size(MAX_FIGURE_BYTES)
    assert f"Not inlined ({format_size(big.stat().st_size)}, over {limit}): big.png" in page
    assert "The figure&#39;s file is missing" in page
    assert len(page) < 200_000


def test_steps_after_a_replan_count_only_the_new_plans_cells() -> None:
    cells = [
        cell(1, "old()", ok=False, error={"name": "E", "value": "v", "traceback": ""}),
        cell(2, "new_first()"),
        cell(3, "new_second()", step=1),
    ]
    verdicts = [
        verdict(1, "replan", "the old plan read the wrong file"),
        verdict(2, "next_step"),
        verdict(3, "done", step=2),
    ]
    result = run(
        plan=[step("New first"), step("New second"), step("Unused")], cells=cells, verdicts=verdicts
    )

    text = text_of(render_html(result))

    assert "done New first" in text
    assert "done New second" in text
    assert "not needed Unused" in text
    assert "reviewer: new plan the old plan read the wrong file" in text


@pytest.mark.parametrize("status", ["failed", "rejected"])
def test_other_ends_say_why_too(status: str) -> None:
    result = run(status=status, answer=None, stop_reason=f"it was {status}")

    text = text_of(render_html(result))

    assert f"No answer ({status}): it was {status}" in text


def test_a_diagram_rendered_twice_is_drawn_once_as_svg(tmp_path: Path) -> None:
    """A DOT cell writes name.svg and name.png: the page draws the SVG and lists the PNG."""
    source = tmp_path / "flow.dot"
    source.write_text("digraph { a -> b }")
    svg = tmp_path / "flow.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    png = tmp_path / "flow.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    chart = tmp_path / "chart.png"
    chart.write_bytes(b"\x89PNG\r\n\x1a\n")
    artifacts = [
        artifact(source, "text/vnd.graphviz"),
        artifact(png, "image/png"),
        artifact(svg, "image/svg+xml"),
        artifact(chart, "image/png"),
    ]

    page = render_html(
        run(cells=[cell(1, "digraph { a -> b }", language="dot", artifacts=artifacts)]), tmp_path
    )

    assert page.count('<img src="data:image/svg+xml;base64,') == 1
    assert page.count('<img src="data:image/png;base64,') == 1  # the chart, not flow.png
    assert '<a href="flow.png">flow.png</a>' in page
    assert '<a href="flow.dot">flow.dot</a>' in page


def test_javascript_and_typescript_cells_carry_their_language_everywhere(tmp_path: Path) -> None:
    from runpad.report import build_notebook, render_markdown

    ts = "const total: number = [1, 2].reduce((a, b) => a + b, 0);\nconsole.log(total);"
    written = tmp_path / "artifacts" / "cell-2" / "total.json"
    written.parent.mkdir(parents=True)
    written.write_text("3")
    cells = [
        cell(1, "import json\njson.dump([1, 2], open('data.json', 'w'))"),
        cell(
            2,
            ts,
            language="typescript",
            stdout="3\n",
            artifacts=[artifact(written, "application/json", 2)],
        ),
        cell(3, "console.log(typeof Deno)", language="javascript", stdout="object\n"),
        cell(4, "print(open('data.json').read())", stdout="[1, 2]\n"),
    ]
    result = run(cells=cells, plan=[step("Sum", kind="typescript")], output_dir=str(tmp_path))

    page = render_html(result)
    assert 'class="highlight language-typescript"' in page
    assert 'class="highlight language-javascript"' in page
    assert 'class="highlight language-python"' in page
    assert '<span class="kd">const</span>' in page  # highlighted as TypeScript
    assert "· typescript ·" in text_of(page)

    markdown = render_markdown(result)
    assert f"```typescript\n{ts}\n```" in markdown
    assert "```javascript\nconsole.log(typeof Deno)\n```" in markdown

    notebook = build_notebook(result)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert [c.metadata.runpad.language for c in code_cells] == [
        "python",
        "typescript",
        "javascript",
        "python",
    ]
    python_cell, ts_cell, js_cell, _ = code_cells
    assert ts_cell.source == ts
    assert ts_cell.metadata.vscode == {"languageId": "typescript"}
    assert js_cell.metadata.vscode == {"languageId": "javascript"}
    # a re-run in the notebook's Python kernel keeps their outputs instead of running them
    assert ts_cell.metadata.tags == ["skip-execution"]
    assert ts_cell.outputs[0].text == "3\n"
    assert "vscode" not in python_cell.metadata
    assert "tags" not in python_cell.metadata
    assert notebook.metadata.language_info.name == "python"  # the notebook's kernel
    assert notebook.metadata.runpad.languages == ["javascript", "python", "typescript"]
    # what the Deno cells wrote is put in the re-run's work dir, as a SQL cell's result is
    assert str(written.resolve()) in notebook.metadata.runpad.files
