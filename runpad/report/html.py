"""The run's report as one self-contained HTML page, and a PDF printed from that page.

`report.html` shows the same run as `report.md`, read from the same `RunResult` and artifact
files, for people who look rather than read: the answer first (or why there is none), the
plan with each step's state, each cell with its highlighted code, its output, its figures
and its tables, the reviewer's verdicts and the repairs, and the run's facts.

The page is one file with nothing to fetch: figures are `data:` URIs, styles are inline,
there is no script, and a Content-Security-Policy forbids every other source, so a figure
whose SVG names an outside resource cannot make the page reach the network. Images are
never inlined as SVG markup: as `<img>` an SVG cannot run script or fetch anything.

Sizes are bounded whatever the run did: every text block (code, output, traceback) keeps
its head and tail, tables show their first rows and columns, figures over a size are linked
instead of inlined, and past a total budget of text or images the rest is cut with a note.

The PDF comes from the same HTML printed by headless Chromium (see docs/reports.md for why
Chromium rather than WeasyPrint); the print styles keep every figure and table on one page.
"""

from __future__ import annotations

import base64
import csv
import os
import re
import shutil
import subprocess
import tempfile
import webbrowser
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import jinja2
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from runpad.cells import lexer_name
from runpad.errors import MissingDependencyError, RunpadError
from runpad.events import DECISION_WORDS
from runpad.report import (
    _artifact_file,
    _link,
    render_answer,
    run_facts,
)
from runpad.sandbox.results import format_size
from runpad.text import one_line, shorten

if TYPE_CHECKING:
    from runpad.runs import RunResult
    from runpad.state import ArtifactRef, CellRecord, Verdict

__all__ = [
    "BROWSER_ENV",
    "MAX_FIGURE_BYTES",
    "MAX_IMAGES_BYTES",
    "MAX_TABLE_ROWS",
    "MAX_TEXT_CHARS",
    "MAX_TOTAL_TEXT_CHARS",
    "find_browser",
    "headless_arguments",
    "open_in_browser",
    "render_html",
    "write_html",
    "write_pdf",
]

MAX_TEXT_CHARS = 20_000
"""Characters of one code or output block; longer ones keep their head and tail."""
MAX_TOTAL_TEXT_CHARS = 2_000_000
"""Characters of all text blocks together; past it each block shows only a short head."""
MAX_FIGURE_BYTES = 5 * 1024 * 1024
"""A larger image is linked (its file in the run folder), not inlined."""
MAX_IMAGES_BYTES = 30 * 1024 * 1024
"""Bytes of all inlined images together; later ones are linked."""
MAX_TABLE_ROWS = 30
"""Rows of a table shown; the note says how many there were."""
MAX_TABLE_COLUMNS = 20
MAX_TABLE_CELL_CHARS = 200
MAX_FILES_LISTED = 100
"""Files listed under a cell; the note says how many more there are."""
_SPENT_TEXT_CHARS = 500  # what a block keeps once the total budget is spent

_TABLE_TYPES = ("text/csv", "text/tab-separated-values")
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # IPython colours its tracebacks

StepState = Literal["done", "failed", "waiting", "not reached", "not needed"]


# -- what the page shows: built from the run, then rendered by the template -----------------------


@dataclass(frozen=True)
class _Text:
    text: str
    note: str | None  # why it is cut, when it is


@dataclass(frozen=True)
class _Output:
    label: str
    kind: str  # css class: stdout, stderr, result, error
    body: _Text


@dataclass(frozen=True)
class _Figure:
    name: str
    src: str | None  # a data: URI; None when it is too large or missing
    note: str | None


@dataclass(frozen=True)
class _Table:
    name: str
    header: list[str]
    rows: list[list[str]]
    note: str | None


@dataclass(frozen=True)
class _File:
    name: str
    link: str
    mime_type: str
    size: str


@dataclass(frozen=True)
class _Cell:
    index: int
    step: int
    attempt: int
    language: str
    outcome: str  # ok, failed, timed out
    duration: str
    code: Markup
    code_note: str | None
    outputs: list[_Output]
    figures: list[_Figure]
    tables: list[_Table]
    files: list[_File]
    files_note: str | None
    verdict: Verdict | None
    restarted: bool


@dataclass(frozen=True)
class _Step:
    number: int
    description: str
    criterion: str
    kind: str
    state: StepState


@dataclass(frozen=True)
class _Finding:
    step: int
    kind: str
    query: str
    body: _Text
    ok: bool


@dataclass(frozen=True)
class _Page:
    title: str
    task: str
    status: str
    answered: bool
    answer: str
    note: str | None  # a stop reason beside an answer
    facts: list[tuple[str, str]]
    steps: list[_Step]
    findings: list[_Finding]
    cells: list[_Cell]
    pending: Markup | None
    pending_note: str | None
    highlight_css: Markup
    generated: str


@dataclass
class _Budget:
    """What is left of the page's text and image allowances."""

    text_chars: int = MAX_TOTAL_TEXT_CHARS
    image_bytes: int = MAX_IMAGES_BYTES

    def text(self, text: str, limit: int = MAX_TEXT_CHARS) -> _Text:
        if self.text_chars <= 0:
            limit = min(limit, _SPENT_TEXT_CHARS)
        body, note = _cut(text, limit)
        body = _ANSI.sub("", body)  # after the cut: a huge output is never scanned whole
        if self.text_chars <= 0 and note is not None:
            note += " (the report's text budget is spent)"
        self.text_chars -= len(body)
        return _Text(body, note)


def _cut(text: str, limit: int) -> tuple[str, str | None]:
    """The head and tail of a text longer than `limit`, and a note that says so."""
    if len(text) <= limit:
        return text, None
    head = text[: limit * 3 // 4]
    tail = text[-(limit // 4) :]
    left_out = len(text) - len(head) - len(tail)
    return (
        f"{head}\n…\n{tail}",
        f"Cut: {left_out:,} of {len(text):,} characters are left out of the middle.",
    )


# -- rendering ---------------------------------------------------------------------------------


def render_html(result: RunResult, directory: str | Path | None = None) -> str:
    """The run's report as one self-contained HTML page.

    Args:
        result: the run, as `runpad.run` returned it or `runpad.runner.aget_run` read it.
        directory: where the page will lie; links to artifacts that are not inlined (large
            files) are relative to it (default: the run's own directory).

    Example:
        ```python
        result = runpad.run("Plot the monthly totals of sales.csv", files=["sales.csv"])
        Path("report.html").write_text(render_html(result, "."))
        ```
    """
    page = _page(result, Path(directory or result.output_dir or "."))
    return _template().render(page=page, verdict_words=DECISION_WORDS)


def write_html(result: RunResult, path: str | Path) -> Path:
    """Write the run's HTML report to `path` (its folder is created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result, path.parent), encoding="utf-8")
    return path


def _template() -> jinja2.Template:
    source = resources.files("runpad.report").joinpath("templates/report.html.j2").read_text()
    environment = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    return environment.from_string(source)


def _page(result: RunResult, base: Path) -> _Page:
    budget = _Budget()
    judged = {verdict["cell"]: verdict for verdict in result.verdicts}
    pending = result.pending_approval
    pending_code: Markup | None = None
    pending_note: str | None = None
    if pending:
        body = budget.text(str(pending.get("code", "")))
        pending_code = _highlight(body.text, str(pending.get("language", "python")))
        pending_note = body.note
    return _Page(
        title=one_line(result.task, 120) or "runpad run",
        task=budget.text(result.task.strip()).text,
        status=result.status,
        answered=bool(result.answer),
        answer=budget.text(render_answer(result).strip()).text,
        note=result.stop_reason if result.answer else None,
        facts=run_facts(result),
        steps=_steps(result),
        findings=[
            _Finding(f["step"], f["kind"], f["query"], budget.text(f["text"]), f["ok"])
            for f in result.findings
        ],
        cells=[_cell(cell, judged.get(cell["index"]), base, budget) for cell in result.cells],
        pending=pending_code,
        pending_note=pending_note,
        highlight_css=Markup(HtmlFormatter(style="default").get_style_defs(".highlight")),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def _steps(result: RunResult) -> list[_Step]:
    """The final plan, each step with how far the run got with it.

    Cells before the last replan belong to an earlier plan, whose step numbers mean other
    steps; only the cells after it count for this plan's steps.
    """
    replanned_after = max(
        (v["cell"] for v in result.verdicts if v["decision"] == "replan"), default=0
    )
    cells = [cell for cell in result.cells if cell["index"] > replanned_after]
    judged = {verdict["cell"]: verdict["decision"] for verdict in result.verdicts}
    found = {finding["step"] for finding in result.findings if finding["ok"]}
    current = max((cell["step"] for cell in cells), default=0)
    steps = []
    for number, step in enumerate(result.plan):
        own = [cell for cell in cells if cell["step"] == number]
        state: StepState
        if any(judged.get(cell["index"]) in ("next_step", "done") for cell in own):
            state = "done"
        elif result.status == "answered":
            state = "done" if own or number in found else "not needed"
        elif number < current and (own or number in found):
            state = "done"
        elif number == current:
            state = "waiting" if result.status == "awaiting_approval" else "failed"
        else:
            state = "not reached"
        steps.append(
            _Step(number + 1, step["description"], step["success_criterion"], step["kind"], state)
        )
    return steps


def _cell(cell: CellRecord, verdict: Verdict | None, base: Path, budget: _Budget) -> _Cell:
    code = budget.text(cell["code"].rstrip())
    outputs = [
        _Output(label, kind, budget.text(text.rstrip()))
        for label, kind, text in (
            ("Output", "stdout", cell["stdout"]),
            ("Standard error", "stderr", cell["stderr"]),
            ("Result", "result", cell["result"] or ""),
        )
        if text.strip()
    ]
    if cell["error"] is not None:
        error = cell["error"]
        detail = error["traceback"].strip() or f"{error['name']}: {error['value']}"
        outputs.append(_Output(f"Error: {error['name']}", "error", budget.text(detail)))
    images = _shown_images(cell["artifacts"])
    figures = [_figure(a, base, budget) for a in images]
    tables = [_table(a, base, budget) for a in cell["artifacts"] if _is_table(a)]
    others = [a for a in cell["artifacts"] if a not in images]
    listed = MAX_FILES_LISTED if budget.text_chars > 0 else 0
    files = [
        _File(a["name"], _link(a, base), a["mime_type"], format_size(a["size"]))
        for a in others[:listed]
    ]
    budget.text_chars -= sum(2 * len(file.name) + len(file.link) for file in files)
    files_note = (
        f"{'and ' if files else ''}{len(others) - listed:,} more files in the run folder"
        if len(others) > listed
        else None
    )
    outcome = "ok" if cell["ok"] else ("timed out" if cell["timed_out"] else "failed")
    return _Cell(
        index=cell["index"],
        step=cell["step"] + 1,
        attempt=cell["attempt"] + 1,
        language=cell["language"],
        outcome=outcome,
        duration=f"{cell['duration_ms']:.0f} ms",
        code=_highlight(code.text, cell["language"]),
        code_note=code.note,
        outputs=outputs,
        figures=figures,
        tables=[table for table in tables if table is not None],
        files=files,
        files_note=files_note,
        verdict=verdict,
        restarted=cell["restarted"],
    )


def _shown_images(artifacts: list[ArtifactRef]) -> list[ArtifactRef]:
    """The images to draw: a diagram rendered both as SVG and as PNG (a DOT cell) is drawn
    once, as the SVG, which stays sharp when printed; the PNG is listed with the files."""
    images = [a for a in artifacts if a["mime_type"] in _IMAGE_TYPES]
    vectors = {Path(a["name"]).with_suffix("") for a in images if a["mime_type"] == "image/svg+xml"}
    return [
        a
        for a in images
        if a["mime_type"] == "image/svg+xml" or Path(a["name"]).with_suffix("") not in vectors
    ]


def _highlight(code: str, language: str) -> Markup:
    lexer: Lexer
    try:
        lexer = get_lexer_by_name(lexer_name(language))
    except ClassNotFound:
        lexer = get_lexer_by_name("text")
    # Pygments escapes the code it formats: its HTML is safe to put in the page as is. The
    # `language-*` class (the HTML convention for a code block's language) names it.
    css_class = "highlight language-" + re.sub(r"[^\w-]", "", language)
    formatter = HtmlFormatter(style="default", cssclass=css_class)
    return Markup(highlight(code, lexer, formatter))


def _figure(artifact: ArtifactRef, base: Path, budget: _Budget) -> _Figure:
    path = _artifact_file(artifact, base)
    name = artifact["name"]
    if not path.is_file():
        return _Figure(name, None, f"The figure's file is missing ({path}).")
    size = path.stat().st_size
    if size > MAX_FIGURE_BYTES or size > budget.image_bytes:
        why = (
            f"over {format_size(MAX_FIGURE_BYTES)}"
            if size > MAX_FIGURE_BYTES
            else "the report's image budget is spent"
        )
        return _Figure(
            name, None, f"Not inlined ({format_size(size)}, {why}): {_link(artifact, base)}"
        )
    budget.image_bytes -= size
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return _Figure(name, f"data:{artifact['mime_type']};base64,{data}", None)


def _is_table(artifact: ArtifactRef) -> bool:
    return artifact["mime_type"] in _TABLE_TYPES or artifact["name"].endswith((".csv", ".tsv"))


def _table(artifact: ArtifactRef, base: Path, budget: _Budget) -> _Table | None:
    """The first rows of a CSV or TSV file as a table; None when it does not parse."""
    if budget.text_chars <= 0:
        return _Table(artifact["name"], [], [], "Not shown: the report's text budget is spent.")
    path = _artifact_file(artifact, base)
    if not path.is_file():
        return None
    delimiter = "\t" if artifact["name"].endswith(".tsv") else ","
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows, total = _first_rows(csv.reader(handle, delimiter=delimiter))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not rows:
        return None
    width = max(len(row) for row in rows)
    notes = []
    if total - 1 > MAX_TABLE_ROWS:
        notes.append(f"the first {MAX_TABLE_ROWS} of {total - 1:,} rows")
    if width > MAX_TABLE_COLUMNS:
        notes.append(f"the first {MAX_TABLE_COLUMNS} of {width} columns")
    cells = [
        [shorten(value, MAX_TABLE_CELL_CHARS) for value in row[:MAX_TABLE_COLUMNS]] for row in rows
    ]
    budget.text_chars -= sum(len(value) for row in cells for value in row)
    note = f"Showing {' and '.join(notes)}; the whole table is in {artifact['name']}."
    return _Table(artifact["name"], cells[0], cells[1:], note if notes else None)


def _first_rows(reader: Iterable[list[str]]) -> tuple[list[list[str]], int]:
    """The header and the first rows, and how many rows there are in all."""
    rows: list[list[str]] = []
    total = 0
    for row in reader:
        total += 1
        if len(rows) <= MAX_TABLE_ROWS:
            rows.append(row)
    return rows, total


# -- the browser: PDF and opening the page ---------------------------------------------------------

_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_ENV = "RUNPAD_BROWSER"


def find_browser() -> str:
    """The Chromium (or Chrome) program that prints PDFs: `$RUNPAD_BROWSER`, else the first
    of chromium, chromium-browser, google-chrome on the PATH.

    Raises:
        MissingDependencyError: none is installed.
    """
    if configured := os.environ.get(BROWSER_ENV):
        found = shutil.which(configured)
        if found is None:
            raise MissingDependencyError(
                f"{configured} (named by ${BROWSER_ENV})",
                f"install it, or unset ${BROWSER_ENV} to use chromium from the PATH",
            )
        return found
    for name in _BROWSERS:
        if found := shutil.which(name):
            return found
    raise MissingDependencyError(
        "Chromium (to print the report as PDF)",
        f"apt-get install chromium (or set ${BROWSER_ENV} to a Chrome or Chromium program)",
    )


def headless_arguments(profile: Path) -> list[str]:
    """Chromium's flags for a quiet, offline, throw-away headless browser."""
    arguments = [
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Chromium refuses to run as root with its own sandbox on; the page it opens is
        # ours, has no script and may load nothing (its Content-Security-Policy).
        arguments.append("--no-sandbox")
    return arguments


def write_pdf(
    result: RunResult, path: str | Path, *, browser: str | None = None, timeout: float = 120
) -> Path:
    """Print the run's HTML report to a PDF with headless Chromium; returns the path.

    Args:
        browser: the Chromium program (default: `find_browser()`).
        timeout: seconds the browser may take.

    Raises:
        MissingDependencyError: no Chromium is installed.
        RunpadError: the browser failed or wrote no PDF (the message has its error output).
    """
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    program = browser or find_browser()
    with tempfile.TemporaryDirectory(prefix="runpad-pdf-") as scratch:
        page = write_html(result, Path(scratch) / "report.html")
        # A stale PDF at the path must not pass for this one.
        path.unlink(missing_ok=True)
        command = [
            program,
            *headless_arguments(Path(scratch) / "profile"),
            "--no-pdf-header-footer",
            f"--print-to-pdf={path}",
            page.as_uri(),
        ]
        try:
            finished = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RunpadError(
                f"Chromium did not print the report within {timeout:.0f} s; raise the timeout."
            ) from exc
        except OSError as exc:
            raise RunpadError(f"Could not start {program}: {exc}") from exc
    if not path.is_file() or path.read_bytes()[:5] != b"%PDF-":
        detail = _tail(finished.stderr)
        raise RunpadError(
            f"Chromium wrote no PDF (exit status {finished.returncode}). Its output: {detail}"
        )
    return path


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(none)"


def open_in_browser(path: str | Path) -> bool:
    """Open an HTML report in the user's browser; False when no browser could be started."""
    return webbrowser.open(Path(path).resolve().as_uri())
