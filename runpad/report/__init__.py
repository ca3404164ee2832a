"""What a run leaves in its output directory: the answer, a Markdown report, a notebook.

Every run's directory (`<run_dir>/<thread_id>/`) holds:

| file | what |
|---|---|
| `answer.md` | the answer, or why the run stopped without one |
| `report.md` | the task, the plan, each cell with its output (figures inline), the answer |
| `report.html` | the same as one self-contained page, to look at (`runpad.report.html`) |
| `notebook.ipynb` | the executed cells with their outputs (nbformat 4, valid) |
| `run.json` | the `RunResult` as JSON, for scripts |
| `artifacts/cell-N/` | the files and figures each cell produced (copied by the executor) |

Everything is rebuilt from the checkpointed state and the artifact files, never from a
live stream: so the same files come out whichever process ran the run (the CLI, the
Python API, a resume on another machine) and `runpad export` can write them again later.
The state keeps previews of each output (head and tail beyond
`runpad.agents.executor.PREVIEW_CHARS` characters); figures and files are whole, since they
are artifacts. Re-running the notebook (`execute_notebook`) gives the full outputs.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import nbformat
from nbformat import NotebookNode

from runpad.cells import DENO_KERNEL_LANGUAGES, KERNEL_NAME, PYTHON_KERNEL_LANGUAGES
from runpad.events import DECISION_WORDS
from runpad.sandbox.results import format_size
from runpad.state import ArtifactRef, CellRecord, Verdict
from runpad.text import one_line

if TYPE_CHECKING:  # at run time, `runpad show` and `export` need neither graph nor kernel
    from runpad.runs import RunResult
    from runpad.sandbox.limits import Limits

__all__ = [
    "RunFiles",
    "build_notebook",
    "execute_notebook",
    "notebook_outputs",
    "render_answer",
    "render_html",
    "render_markdown",
    "run_facts",
    "run_files",
    "write_html",
    "write_pdf",
    "write_run_files",
]

ANSWER_FILE = "answer.md"
REPORT_FILE = "report.md"
HTML_FILE = "report.html"
NOTEBOOK_FILE = "notebook.ipynb"
RESULT_FILE = "run.json"


@dataclass(frozen=True)
class RunFiles:
    """Where a run's answer, report, notebook and result lie."""

    directory: Path
    answer: Path
    report: Path
    html: Path
    notebook: Path
    result: Path


def run_files(directory: str | Path) -> RunFiles:
    """The paths of the files a run writes in `directory`."""
    directory = Path(directory)
    return RunFiles(
        directory=directory,
        answer=directory / ANSWER_FILE,
        report=directory / REPORT_FILE,
        html=directory / HTML_FILE,
        notebook=directory / NOTEBOOK_FILE,
        result=directory / RESULT_FILE,
    )


def write_run_files(result: RunResult, directory: str | Path | None = None) -> RunFiles:
    """Write the answer, the reports (Markdown and HTML), the notebook and `run.json` of a run.

    Args:
        result: the run, as `runpad.run` returned it or `runpad.runner.aget_run` read it.
        directory: where to write (default: the run's own directory, `result.output_dir`).
    """
    target = directory or result.output_dir
    if target is None:
        raise ValueError("The run has no output directory; pass one.")
    files = run_files(target)
    files.directory.mkdir(parents=True, exist_ok=True)
    files.answer.write_text(render_answer(result), encoding="utf-8")
    files.report.write_text(render_markdown(result, files.directory), encoding="utf-8")
    write_html(result, files.html)
    nbformat.write(build_notebook(result), str(files.notebook))
    files.result.write_text(
        json.dumps(dataclasses.asdict(result), indent=2, default=str) + "\n", encoding="utf-8"
    )
    return files


# -- Markdown ----------------------------------------------------------------------------------


def render_answer(result: RunResult) -> str:
    """The answer as a short Markdown file; a run without one says why."""
    if result.answer:
        return f"{result.answer.strip()}\n"
    if result.status == "awaiting_approval":
        return (
            f"No answer yet: the run waits for a decision on its next cell "
            f"(`runpad resume {result.thread_id} --decision approve|edit|reject`).\n"
        )
    return f"No answer ({result.status}): {result.stop_reason or 'the run did not finish'}\n"


def render_markdown(result: RunResult, directory: str | Path | None = None) -> str:
    """The report: task, plan, each cell with its output (figures inline), the answer.

    Links to artifacts are relative to `directory` (default: the run's own directory), so
    the report renders wherever that directory is copied.
    """
    base = Path(directory or result.output_dir or ".")
    lines = [f"# {one_line(result.task, 120) or 'runpad run'}", ""]
    facts = [(key, f"`{value}`" if key == "thread" else value) for key, value in run_facts(result)]
    lines += ["| | |", "|---|---|", *(f"| {key} | {value} |" for key, value in facts), ""]
    lines += ["## Answer", "", render_answer(result).strip(), ""]
    if result.stop_reason and result.answer:
        lines += [f"*Note:* {result.stop_reason}", ""]
    if len(result.task.strip().splitlines()) > 1:  # the title shows only its first line
        lines += ["## Task", "", result.task.strip(), ""]
    if result.plan:
        lines += ["## Plan", ""]
        for number, step in enumerate(result.plan, 1):
            lines.append(f"{number}. {step['description']} — *check:* {step['success_criterion']}")
        lines.append("")
    if result.cells:
        judged = {verdict["cell"]: verdict for verdict in result.verdicts}
        lines += ["## Cells", ""]
        for cell in result.cells:
            lines += _cell_markdown(cell, base, judged.get(cell["index"]))
    if result.pending_approval:
        lines += [
            "## Waiting for approval",
            "",
            f"```{result.pending_approval['language']}",
            result.pending_approval["code"].rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def run_facts(result: RunResult) -> list[tuple[str, str]]:
    """The run's facts as (label, value) rows, the same in every report: status, thread,
    model, sandbox, cells, repairs, tokens, when it started and how long it took, inputs."""
    failed = sum(not cell["ok"] for cell in result.cells)
    repairs = sum(verdict["decision"] == "repair" for verdict in result.verdicts)
    facts = [
        ("status", result.status),
        ("thread", result.thread_id),
        ("model", result.model or "not recorded"),
        ("sandbox", result.sandbox or "not recorded"),
        ("cells", f"{len(result.cells)}" + (f" ({failed} failed)" if failed else "")),
        ("repairs", str(repairs)),
        ("model tokens", str(result.tokens)),
    ]
    if result.started_at is not None:
        started = datetime.fromtimestamp(result.started_at, UTC)
        facts.append(("started", started.strftime("%Y-%m-%d %H:%M:%S UTC")))
        if result.finished_at is not None and result.finished_at >= result.started_at:
            facts.append(("time", _duration(result.finished_at - result.started_at)))
    if result.files:
        facts.append(("input files", ", ".join(Path(f).name for f in result.files)))
    return facts


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _cell_markdown(cell: CellRecord, base: Path, verdict: Verdict | None = None) -> list[str]:
    outcome = "ok" if cell["ok"] else ("timed out" if cell["timed_out"] else "failed")
    lines = [
        f"### Cell {cell['index']} · step {cell['step'] + 1}, try {cell['attempt'] + 1} · "
        f"{outcome} · {cell['duration_ms']:.0f} ms",
        "",
        f"```{cell['language']}",
        cell["code"].rstrip(),
        "```",
        "",
    ]
    for label, text in (("Output", cell["stdout"]), ("Standard error", cell["stderr"])):
        if text.strip():
            lines += [f"{label}:", "", _fence(text), ""]
    if cell["result"] is not None:
        lines += ["Result:", "", _fence(cell["result"]), ""]
    if cell["error"] is not None:
        error = cell["error"]
        detail = error["traceback"].strip() or f"{error['name']}: {error['value']}"
        lines += [f"Error: `{error['name']}`", "", _fence(detail), ""]
    if cell["restarted"]:
        lines += ["*The kernel was restarted after this cell: its variables were lost.*", ""]
    images = [a for a in cell["artifacts"] if a["mime_type"] in _INLINE_IMAGES]
    for artifact in images:
        lines += [f"![{artifact['name']}]({_link(artifact, base)})", ""]
    others = [a for a in cell["artifacts"] if a not in images]
    if others:
        lines.append("Files:")
        lines.append("")
        lines += [
            f"- [{a['name']}]({_link(a, base)}) ({a['mime_type']}, {format_size(a['size'])})"
            for a in others
        ]
        lines.append("")
    if verdict is not None:
        notes = f" — {verdict['notes']}" if verdict["notes"] else ""
        lines += [f"*Reviewer:* {DECISION_WORDS[verdict['decision']]}{notes}", ""]
    return lines


_INLINE_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")


def _fence(text: str) -> str:
    longest = max((len(run) for run in text.split("\n") if set(run) == {"`"}), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def _figures(cell: CellRecord) -> list[ArtifactRef]:
    """The cell's drawn figures: the executor stores them after its files, one per image."""
    images = cell["images"]
    if not images:
        return []
    return [a for a in cell["artifacts"][-images:] if a["mime_type"] == "image/png"]


def _artifact_file(artifact: ArtifactRef, base: Path) -> Path:
    """The artifact's file: its recorded path, else where the executor's layout puts it
    under `base` (the run's directory, moved or read on another machine)."""
    recorded = Path(artifact["path"])
    if recorded.is_file():
        return recorded
    return base / "artifacts" / f"cell-{artifact['cell']}" / artifact["name"]


def _link(artifact: ArtifactRef, base: Path) -> str:
    path = _artifact_file(artifact, base)
    try:
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return path.as_posix()


# -- the notebook ----------------------------------------------------------------------------------


def build_notebook(result: RunResult) -> NotebookNode:
    """The run's executed cells with their outputs, as a Jupyter notebook (nbformat 4).

    Each plan step gets a Markdown heading; failed cells are kept, with their errors, since
    the cells after them ran in the kernel they left. Python and shell cells are code cells;
    SQL and DOT cells, which ran outside the kernel, are Markdown cells with their output,
    and the files they made (query results, diagrams) are listed with the input files in
    `metadata.runpad.files`, so that a re-run finds them in the work dir as the run did. The
    notebook's kernelspec is runpad's sandbox kernel (Python).

    JavaScript and TypeScript cells, which ran in the sandbox's Deno kernel, are code cells
    that carry their language where notebook tools look for a cell's own language in a
    multi-language notebook, `metadata.vscode.languageId` (VS Code's notebooks), and in
    `metadata.runpad.language`; the notebook lists its languages in
    `metadata.runpad.languages`. They are tagged `skip-execution`, so a
    re-run in the Python kernel (nbclient) keeps their recorded outputs instead of sending
    them to Python, and the files they wrote go in `metadata.runpad.files` like a SQL result.
    """
    base = Path(result.output_dir or ".")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata.update(
        {
            "kernelspec": {
                "name": KERNEL_NAME,
                "display_name": "Python 3 (runpad sandbox)",
                "language": "python",
            },
            "language_info": {"name": "python"},
            "runpad": {
                "thread_id": result.thread_id,
                "task": result.task,
                "files": _work_dir_files(result, base),
                "status": result.status,
                "languages": sorted({cell["language"] for cell in result.cells}),
            },
        }
    )
    cells: list[NotebookNode] = [nbformat.v4.new_markdown_cell(_notebook_intro(result))]
    heading_for: tuple[int, str] | None = None
    for cell in result.cells:
        step = cell["step"]
        description = (
            result.plan[step]["description"] if step < len(result.plan) else f"step {step + 1}"
        )
        if heading_for != (step, description):
            heading_for = (step, description)
            cells.append(nbformat.v4.new_markdown_cell(f"## Step {step + 1}: {description}"))
        if cell["language"] in PYTHON_KERNEL_LANGUAGES + DENO_KERNEL_LANGUAGES:
            cells.append(_code_cell(cell, base))
        else:
            cells.append(nbformat.v4.new_markdown_cell("\n".join(_cell_markdown(cell, base))))
    cells.append(nbformat.v4.new_markdown_cell("## Answer\n\n" + render_answer(result).strip()))
    notebook.cells = cells
    nbformat.validate(notebook)
    return cast(NotebookNode, notebook)


def _work_dir_files(result: RunResult, base: Path) -> list[str]:
    """What a re-run needs in its work dir: the inputs, and what the cells that the
    notebook's (Python) kernel does not run made."""
    files = list(result.files)
    for cell in result.cells:
        if cell["ok"] and cell["language"] not in PYTHON_KERNEL_LANGUAGES:
            files += [str(_artifact_file(a, base).resolve()) for a in cell["artifacts"]]
    return files


def _notebook_intro(result: RunResult) -> str:
    lines = [f"# {one_line(result.task, 120) or 'runpad run'}", ""]
    if len(result.task.strip().splitlines()) > 1:
        lines += [result.task.strip(), ""]
    if result.files:
        names = ", ".join(f"`{Path(f).name}`" for f in result.files)
        lines += [f"Input files (in the working directory): {names}", ""]
    lines.append(
        f"Written by runpad from run `{result.thread_id}` ({result.status}). Cells run in a "
        "runpad sandbox kernel; re-run them with `runpad.report.execute_notebook`."
    )
    return "\n".join(lines)


def _code_cell(cell: CellRecord, base: Path) -> NotebookNode:
    source = cell["code"] if cell["language"] != "shell" else f"%%bash\n{cell['code']}"
    outputs: list[NotebookNode] = []
    for name in ("stdout", "stderr"):
        text = cell["stdout"] if name == "stdout" else cell["stderr"]
        if text:
            outputs.append(nbformat.v4.new_output("stream", name=name, text=text))
    for figure in _figures(cell):
        path = _artifact_file(figure, base)
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            outputs.append(nbformat.v4.new_output("display_data", data={"image/png": data}))
    if cell["result"] is not None:
        outputs.append(
            nbformat.v4.new_output(
                "execute_result",
                data={"text/plain": cell["result"]},
                execution_count=cell["index"],
            )
        )
    if cell["error"] is not None:
        error = cell["error"]
        outputs.append(
            nbformat.v4.new_output(
                "error",
                ename=error["name"],
                evalue=error["value"],
                traceback=error["traceback"].splitlines(),
            )
        )
    code = cast(
        NotebookNode,
        nbformat.v4.new_code_cell(source, execution_count=cell["index"], outputs=outputs),
    )
    code.metadata["runpad"] = {
        "index": cell["index"],
        "step": cell["step"],
        "attempt": cell["attempt"],
        "ok": cell["ok"],
        "duration_ms": cell["duration_ms"],
        "language": cell["language"],
    }
    if cell["language"] in DENO_KERNEL_LANGUAGES:
        code.metadata["vscode"] = {"languageId": cell["language"]}
        code.metadata["tags"] = ["skip-execution"]
    return code


async def execute_notebook(
    notebook: NotebookNode | str | Path,
    *,
    backend: str = "local",
    files: Sequence[str | Path] | None = None,
    limits: Limits | None = None,
    timeout: float = 120,
    allow_errors: bool = True,
) -> NotebookNode:
    """Run a notebook with nbclient in a runpad sandbox kernel and return it with its outputs.

    Args:
        notebook: a notebook, or the path of one.
        backend: the sandbox backend of the kernel.
        files: host files to put in the kernel's work dir (default: the input files a
            runpad notebook lists in `metadata.runpad.files`).
        timeout: seconds each cell may run.
        allow_errors: keep going after a cell that raises (a run's failed cells raise again).

    Example:
        ```python
        rerun = await execute_notebook("runs/20260101-120000-abc123/notebook.ipynb")
        ```
    """
    from nbclient import NotebookClient

    from runpad.sandbox.kernel.jupyter import SandboxKernelManager

    if not isinstance(notebook, NotebookNode):
        notebook = cast(NotebookNode, nbformat.read(str(notebook), as_version=4))
    if files is None:
        files = list(notebook.metadata.get("runpad", {}).get("files", []))
    manager = SandboxKernelManager(backend, files=files, limits=limits)
    client = NotebookClient(notebook, km=manager, timeout=int(timeout), allow_errors=allow_errors)
    try:
        # cleanup_kc: shut the kernel down and close the client's sockets afterwards, as
        # nbclient does for kernel managers it makes itself.
        await client.async_execute(cleanup_kc=True)
    finally:
        if manager.has_kernel:  # it failed to start, or the cleanup did not run
            await manager.shutdown_kernel(now=True)
    return notebook


def notebook_outputs(notebook: NotebookNode) -> list[dict[str, Any]]:
    """A comparable summary of each code cell's outputs: streams, results, figures, errors.

    Used to check that a re-run notebook gives what the run saw.
    """
    summary = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        entry: dict[str, Any] = {"stdout": "", "stderr": "", "result": None, "images": 0}
        entry["error"] = None
        for output in cell.outputs:
            kind = output.output_type
            if kind == "stream":
                entry[output.name] += output.text
            elif kind == "execute_result":
                entry["result"] = output.data.get("text/plain")
            elif kind == "display_data" and "image/png" in output.data:
                entry["images"] += 1
            elif kind == "error":
                entry["error"] = (output.ename, output.evalue)
        summary.append(entry)
    return summary


# The HTML report builds on the helpers above (artifact paths, the answer), so its module is
# imported once they exist.
from runpad.report.html import render_html, write_html, write_pdf  # noqa: E402
