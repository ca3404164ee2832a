"""The HTML report of a real run, looked at as a person would: in headless Chromium, and as
the PDF printed from it.

One run (a scripted model, the real local sandbox) charts sales per region and saves the
table: its report.html is checked as markup, opened in Chromium (no request may leave the
page, every figure must be drawn at a real size; a screenshot is kept), and printed to PDF
(the answer is in its text, each figure is whole on one page).
"""

from __future__ import annotations

import asyncio
import csv
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from runpad.cli import EXIT_OK, EXIT_USAGE, app
from runpad.context import Context, RunLimits
from runpad.report import run_files, write_pdf
from runpad.runner import RunResult, arun
from runpad.sandbox.factory import open_sandbox
from runpad.sandbox.limits import Limits
from runpad.sandbox.manager import SandboxManager
from tests.fixtures.browser import DevTools, artifacts_dir, require_program
from tests.fixtures.scripted import (
    ONE_STEP,
    ROUTE_CODE,
    CountingManager,
    Script,
    code,
    run_task,
    write_script,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("require_sandbox")]

ANSWER = "The north region sold the most: 410.5 in all."
SALES = "region,amount\nnorth,200\nsouth,120.25\nnorth,210.5\neast,95\nsouth,40\n"
# Three tall figures, the last taller than an A4 page: without the print styles a page break
# would cut it in two, and a caption could land on another page than its figure.
CHART_CELL = """\
import matplotlib.pyplot as plt
for number in range(3):
    plt.figure(figsize=(5, 5 + 6 * number))
    totals.plot(kind='bar', color='#1f77b4', title=f'Sales per region ({number + 1})')
    plt.show()
totals.reset_index().to_csv('totals.csv', index=False)
print('saved')"""
FIGURES = 3


@pytest.fixture(scope="module")
def sales_run(require_sandbox: None, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """A finished run: totals (a cell), a failing cell and its repair, three charts and a table."""
    folder = tmp_path_factory.mktemp("sales-run")
    (folder / "sales.csv").write_text(SALES)
    model = write_script(
        folder / "script.jsonl",
        router=["ROUTE: code"],
        planner=[
            "1. Total the sales per region | check: the totals are printed\n"
            "2. Chart the totals and save them as a table | check: a figure and a CSV file"
        ],
        coder=[
            code(
                "import pandas as pd\nsales = pd.read_csv('sales.csv')\n"
                "totals = sales.groupby('region').amount.sum()\nprint(totals)"
            ),
            code("print(totals['west'])"),  # a KeyError: the reviewer asks for a repair
            code(CHART_CELL),
        ],
        reviewer=["VERDICT: next", f"VERDICT: done\nANSWER: {ANSWER}"],
    )
    manager = SandboxManager("local", factory=lambda: open_sandbox("local", limits=Limits()))

    async def run() -> RunResult:
        context = Context(model=model, sandboxes=manager, run_dir=str(folder / "runs"))
        try:
            return await arun(
                "Which region sold the most? Chart the totals.",
                files=[folder / "sales.csv"],
                context=context,
                checkpointer=str(folder / "checkpoints.sqlite"),
            )
        finally:
            await manager.aclose()

    result = asyncio.run(run())
    assert result.status == "answered", result.stop_reason
    assert [cell["ok"] for cell in result.cells] == [True, False, True]
    return result


def report_of(result: RunResult) -> Path:
    assert result.output_dir is not None
    return run_files(result.output_dir).html


def test_the_run_folder_has_a_self_contained_html_report(sales_run: RunResult) -> None:
    page = report_of(sales_run).read_text()

    # The answer comes first, then the plan, the cells, and the run's facts.
    order = [page.index(marker) for marker in (ANSWER, 'id="plan"', 'id="cells"', 'id="facts"')]
    assert order == sorted(order)
    assert page.count('<span class="state done">done</span>') == 2
    # Highlighted Python: pandas' import is a keyword span, not plain text.
    assert (
        '<span class="kn">import</span><span class="w"> </span><span class="nn">pandas</span>'
        in page
    )
    # The reviewer's decisions were recorded as they were streamed, one per cell.
    assert [(v["cell"], v["decision"]) for v in sales_run.verdicts] == [
        (1, "next_step"),
        (2, "repair"),
        (3, "done"),
    ]
    assert "reviewer: step done" in page
    # The failed cell, its error and the reviewer's repair; the repair's try.
    assert "Error: KeyError" in page
    assert "reviewer: repair" in page
    assert "repair, try 2" in page
    # Figures inside the page; no source of anything outside it.
    assert page.count('<img src="data:image/png;base64,') == FIGURES
    assert not re.search(r"""(src|href)=["'](https?:|//)""", page)
    assert "default-src 'none'" in page
    # The saved table is an HTML table with the file's rows.
    table = Path(sales_run.output_dir or "") / "artifacts/cell-3/totals.csv"
    rows = list(csv.reader(table.read_text().splitlines()))
    assert "<th>region</th><th>amount</th>" in page
    for region, amount in rows[1:]:
        assert f"<td>{region}</td><td>{amount}</td>" in page
    # The run's facts.
    assert "<th>model</th><td>replay:" in page
    assert "<th>sandbox</th><td>local</td>" in page
    assert "<th>time</th>" in page
    # report.md comes from the same data: the same facts and verdicts.
    markdown = run_files(sales_run.output_dir or "").report.read_text()
    assert "| sandbox | local |" in markdown
    assert "| repairs | 1 |" in markdown
    assert "*Reviewer:* repair — KeyError: 'west'" in markdown


def test_chromium_draws_the_report_without_a_single_request(
    sales_run: RunResult, browser: DevTools
) -> None:
    report = report_of(sales_run)
    page = browser.new_page()

    page.open(report.as_uri())

    shot = page.screenshot(artifacts_dir() / "html-report.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Nothing but the page itself and its own data: URIs was asked for.
    outside = [
        url
        for url in page.requested_urls()
        if url != report.as_uri() and not url.startswith("data:")
    ]
    assert outside == []
    figures = page.evaluate(
        "[...document.querySelectorAll('figure img')].map(img => {"
        " const box = img.getBoundingClientRect();"
        " return [img.complete, img.naturalWidth, box.width, box.height]; })"
    )
    assert len(figures) == FIGURES
    for complete, natural_width, width, height in figures:
        assert complete  # decoded, not a broken-image icon
        assert natural_width > 0
        assert width > 300  # drawn at a size a person can read
        assert height > 300
    text = page.evaluate("document.body.innerText")
    assert ANSWER in text
    assert text.index(ANSWER) < text.index("Plan")
    assert page.evaluate("document.querySelectorAll('table.data tbody tr').length") == 3


async def test_a_run_that_stopped_without_an_answer_says_why_first(
    script: Script, sandboxes: CountingManager, tmp_path: Path
) -> None:
    model = script(
        router=[ROUTE_CODE], planner=[ONE_STEP], coder=[code("print(1 / 0)")], reviewer=[]
    )

    result = await run_task(
        "Divide one by zero", model, sandboxes, tmp_path, limits=RunLimits(max_cells=1)
    )

    assert result.status == "stopped"
    text = text_of_page(report_of(result).read_text())
    why = "No answer (stopped): The run used all 1 cells it may run (RunLimits.max_cells)."
    assert text.index(why) < text.index("Plan") < text.index("ZeroDivisionError")
    assert "failed Compute the value and print it" in text
    assert "reviewer: repair ZeroDivisionError: division by zero" in text


def text_of_page(page: str) -> str:
    """The page's visible text, roughly: tags and the style block removed."""
    body = page.split("<body>", 1)[1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


class _Counter(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]]  # each server's own list, set on a subclass

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that records the paths asked of it."""
    hits: list[str] = []
    handler = type("Counter", (_Counter,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_the_request_check_sees_a_page_that_fetches(
    browser: DevTools, tmp_path: Path, loopback_server: tuple[str, list[str]]
) -> None:
    """The check above can fail: a page with an outside image is caught, by the browser's
    events and by the server it reached."""
    url, hits = loopback_server
    leaky = tmp_path / "leaky.html"
    leaky.write_text(f'<html><body><img src="{url}/pixel.png"></body></html>')
    page = browser.new_page()

    page.open(leaky.as_uri())

    assert f"{url}/pixel.png" in page.requested_urls()
    assert hits == ["/pixel.png"]


def test_an_svg_figure_that_names_an_outside_image_fetches_nothing(
    sales_run: RunResult, browser: DevTools, tmp_path: Path, loopback_server: tuple[str, list[str]]
) -> None:
    """A model-made SVG (a DOT diagram, a saved plot) is inlined as an image, which cannot
    fetch what it names; the page's Content-Security-Policy would refuse it too."""
    url, hits = loopback_server
    svg = tmp_path / "diagram.svg"
    svg.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'width="200" height="100"><rect width="200" height="100" fill="#1f77b4"/>'
        f'<image href="{url}/from-svg.png" width="10" height="10"/>'
        f'<image xlink:href="{url}/from-svg-xlink.png" width="10" height="10"/></svg>'
    )
    cell = sales_run.cells[-1].copy()
    cell["artifacts"] = [
        {
            "name": "diagram.svg",
            "path": str(svg),
            "mime_type": "image/svg+xml",
            "size": svg.stat().st_size,
            "sha256": "",
            "cell": cell["index"],
        }
    ]
    from dataclasses import replace

    from runpad.report import write_html

    report = write_html(replace(sales_run, cells=[cell]), tmp_path / "report.html")
    page = browser.new_page()

    page.open(report.as_uri())

    assert [u for u in page.requested_urls() if u.startswith("http")] == []
    assert hits == []
    assert page.evaluate("document.querySelector('figure img').naturalWidth") == 200


def test_the_pdf_has_the_answer_and_every_figure_whole_on_one_page(
    sales_run: RunResult, chromium: str, tmp_path: Path
) -> None:
    pdftotext = require_program("pdftotext", "poppler-utils")
    pdftoppm = require_program("pdftoppm", "poppler-utils")
    pdfimages = require_program("pdfimages", "poppler-utils")

    pdf = write_pdf(sales_run, tmp_path / "report.pdf", browser=chromium)
    shutil.copy(pdf, artifacts_dir() / "html-report.pdf")

    text = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert " ".join(ANSWER.split()) in " ".join(text.split())
    assert text.index("Answer") < text.index("Plan")

    # Each chart is drawn once, on one page: a figure cut by a page break would be drawn on
    # both pages (pdfimages lists every page an image is drawn on).
    listing = subprocess.run(
        [pdfimages, "-list", str(pdf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    pages = [int(line.split()[0]) for line in listing if line.split()[2] == "image"]
    assert len(pages) == FIGURES, listing
    assert len(set(pages)) >= 2  # the three tall figures did not fit on one page
    for number, page in enumerate(pages, 1):  # and each caption is on its figure's page
        on_page = subprocess.run(
            [pdftotext, "-f", str(page), "-l", str(page), str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"figure-{number}.png" in on_page

    # The page images: the charts' bars (matplotlib's #1f77b4) are on the pages.
    subprocess.run([pdftoppm, "-r", "30", str(pdf), str(tmp_path / "page")], check=True)
    images = sorted(tmp_path.glob("page-*.ppm"))
    assert len(images) >= 2
    bar_pixels = {image.name: _pixels_near(image, (0x1F, 0x77, 0xB4)) for image in images}
    assert sum(count > 200 for count in bar_pixels.values()) == len(set(pages)), bar_pixels


def _pixels_near(image: Path, colour: tuple[int, int, int], tolerance: int = 24) -> int:
    """How many pixels of a binary PPM (P6, pdftoppm's default output) are near a colour."""
    data = image.read_bytes()
    fields = data.split(maxsplit=4)
    assert (fields[0], fields[3]) == (b"P6", b"255")
    width, height = int(fields[1]), int(fields[2])
    pixels = fields[4][: width * height * 3]
    red, green, blue = colour
    return sum(
        1
        for i in range(0, len(pixels), 3)
        if abs(pixels[i] - red) <= tolerance
        and abs(pixels[i + 1] - green) <= tolerance
        and abs(pixels[i + 2] - blue) <= tolerance
    )


# -- the command line ------------------------------------------------------------------------------


def cli_store(result: RunResult) -> list[str]:
    """The --out and --checkpoints options that find the run again."""
    runs = Path(result.output_dir or "").parent
    return ["--out", str(runs), "--checkpoints", str(runs.parent / "checkpoints.sqlite")]


def test_export_writes_the_html_and_the_pdf(
    sales_run: RunResult, chromium: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNPAD_BROWSER", chromium)
    target = tmp_path / "exported"

    exported = CliRunner().invoke(
        app,
        [
            "export",
            sales_run.thread_id,
            *cli_store(sales_run),
            "--html",
            str(target / "run.html"),
            "--pdf",
            str(target / "run.pdf"),
        ],
    )

    assert exported.exit_code == EXIT_OK, exported.output
    page = (target / "run.html").read_text()
    assert ANSWER in page
    assert page.count('<img src="data:image/png;base64,') == FIGURES
    assert (target / "run.pdf").read_bytes()[:5] == b"%PDF-"


def test_export_pdf_without_a_browser_says_what_to_install(
    sales_run: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNPAD_BROWSER", "no-such-chromium")

    exported = CliRunner().invoke(
        app,
        ["export", sales_run.thread_id, *cli_store(sales_run), "--pdf", str(tmp_path / "x.pdf")],
    )

    assert exported.exit_code == EXIT_USAGE
    assert "no-such-chromium" in exported.output
    assert "RUNPAD_BROWSER" in exported.output
    assert not (tmp_path / "x.pdf").exists()


def test_show_open_writes_the_page_and_hands_it_to_the_browser(
    sales_run: RunResult, tmp_path: Path
) -> None:
    """`$BROWSER` (read by Python's webbrowser) names a program that records what it opens."""
    opened = tmp_path / "opened.txt"
    recorder = tmp_path / "browser.sh"
    recorder.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {opened}\n')
    recorder.chmod(0o755)
    report = report_of(sales_run)
    report.unlink()  # a run from before report.html existed

    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "runpad",
            "show",
            sales_run.thread_id,
            *cli_store(sales_run),
            "--open",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "BROWSER": f"{recorder} %s"},
        timeout=120,
        check=False,
    )

    assert shown.returncode == EXIT_OK, shown.stderr
    assert opened.read_text() == report.resolve().as_uri()
    assert ANSWER in report.read_text()
