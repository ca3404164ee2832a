"""`runpad run / resume / threads / show / export / demo`, driven by scripted models."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner, Result

from runpad.cli import (
    EXIT_AWAITING,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_SANDBOX,
    EXIT_STOPPED,
    EXIT_USAGE,
    app,
)
from runpad.cli import runs as runs_cli
from tests.fixtures.scripted import ONE_STEP, Script, code

pytestmark = pytest.mark.usefixtures("require_sandbox")


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "values.csv"
    path.write_text("x\n1\n2\n3\n")
    return path


def answering(script: Script, cell: str = "print(6 * 7)", answer: str = "42") -> str:
    return script(
        router=["ROUTE: code"],
        planner=[ONE_STEP],
        coder=[code(cell)],
        reviewer=[f"VERDICT: done\nANSWER: {answer}"],
    )


def thread_of(result: Result) -> str:
    for line in result.stderr.splitlines():
        if "thread " in line:
            return line.split("thread ", 1)[1].split(",")[0]
    raise AssertionError(f"no thread id in:\n{result.stderr}")


# -- runpad run ------------------------------------------------------------------------------


def test_run_shows_progress_prints_the_answer_and_writes_the_report(
    script: Script, runs: Path, data: Path
) -> None:
    model = answering(
        script, "import pandas as pd\nframe = pd.read_csv('values.csv')\nprint(frame.x.sum())", "6"
    )

    result = invoke("run", "Sum x in values.csv", "-f", str(data), "-m", model, "--out", str(runs))

    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout == "6\n"  # only the answer: scripts can capture it
    progress = result.stderr
    assert "1. Compute the value and print it" in progress  # the plan
    assert "frame = pd.read_csv('values.csv')" in progress  # the cell's code
    assert "│ 6" in progress  # its output
    assert "reviewer: done" in progress  # the verdict
    thread = thread_of(result)
    directory = runs / thread
    assert f"report:   {directory / 'report.md'}" in progress
    assert (directory / "answer.md").read_text() == "6\n"
    assert "frame.x.sum()" in (directory / "report.md").read_text()
    nbformat.validate(nbformat.read(str(directory / "notebook.ipynb"), as_version=4))
    assert json.loads((directory / "settings.json").read_text())["model"] == model


def test_run_with_samples_votes_and_shows_the_votes(script: Script, runs: Path) -> None:
    model = script(
        router=["ROUTE: code"],
        planner=[ONE_STEP],
        coder=[code("print(41)"), code("print(6 * 7)"), code("print(42)")],
    )

    result = invoke("run", "6 times 7", "-m", model, "--out", str(runs), "--samples", "3")

    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout == "42\n"
    assert "sample 1 votes 41" in result.stderr
    assert "sample 3 votes 42" in result.stderr
    settings = json.loads((runs / thread_of(result) / "settings.json").read_text())
    assert settings["samples"] == 3

    refused = invoke("run", "6 times 7", "-m", model, "--out", str(runs), "--samples", "0")
    assert refused.exit_code == EXIT_USAGE


def test_run_json_is_one_document_on_stdout(script: Script, runs: Path) -> None:
    result = invoke("run", "6 times 7", "-m", answering(script), "--out", str(runs), "--json")

    assert result.exit_code == EXIT_OK, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "answered"
    assert document["answer"] == "42"
    assert document["exit_code"] == EXIT_OK
    assert document["cells"][0]["stdout"] == "42\n"
    assert Path(document["report"]).is_file()
    assert Path(document["notebook"]).is_file()


def test_quiet_prints_only_the_answer(script: Script, runs: Path) -> None:
    result = invoke("run", "6 times 7", "-m", answering(script), "--out", str(runs), "-q")

    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout == "42\n"
    assert result.stderr == ""


def test_a_run_stopped_by_a_limit_exits_4_with_the_reason(script: Script, runs: Path) -> None:
    model = script(router=["ROUTE: code"], planner=[ONE_STEP, ONE_STEP], coder=["no code"] * 6)

    result = invoke("run", "Anything", "-m", model, "--out", str(runs), "-q")

    assert result.exit_code == EXIT_STOPPED
    assert result.stdout == ""
    assert "no code block" in result.stderr


# -- approval ----------------------------------------------------------------------------------


def test_approval_without_a_terminal_pauses_then_resumes_with_decisions(
    script: Script, runs: Path, tmp_path: Path
) -> None:
    model = script(
        router=["ROUTE: code"],
        planner=["1. Print | check: printed\n2. Print more | check: printed"],
        coder=[code("print('original')"), code("print('second')")],
        reviewer=["VERDICT: next", "VERDICT: done\nANSWER: edited"],
    )
    out = ("--out", str(runs))

    paused = invoke("run", "Print", "-m", model, "--approve", "--thread", "t1", *out)

    assert paused.exit_code == EXIT_AWAITING  # it did not wait for input
    assert "print('original')" in paused.stderr
    assert "runpad resume t1 --decision approve" in paused.stderr

    again = invoke("resume", "t1", *out)  # still no terminal, still no decision
    assert again.exit_code == EXIT_AWAITING

    edited = tmp_path / "cell.py"
    edited.write_text("print('edited')\n")
    second = invoke("resume", "t1", "--decision", "edit", "--code-file", str(edited), *out)

    assert second.exit_code == EXIT_AWAITING  # the next cell waits in turn
    assert "│ edited" in second.stderr
    assert "print('second')" in second.stderr

    rejected = invoke("resume", "t1", "--decision", "reject", "--reason", "enough", *out)

    assert rejected.exit_code == EXIT_REJECTED
    assert "The cell was rejected: enough" in rejected.stderr
    report = (runs / "t1" / "report.md").read_text()
    assert "print('edited')" in report
    assert "print('second')" not in report  # rejected cells never ran


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs_cli, "_stdin_is_terminal", lambda: True)


@pytest.mark.usefixtures("terminal")
def test_approval_at_the_terminal_edits_the_cell_in_the_editor(
    script: Script, runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    editor = tmp_path / "editor.py"
    editor.write_text(
        f"#!{sys.executable}\n"
        "import pathlib, sys\n"
        "path = pathlib.Path(sys.argv[1])\n"
        "path.write_text(path.read_text().replace('original', 'edited'))\n"
    )
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.delenv("VISUAL", raising=False)
    model = answering(script, "print('original')", "done")

    result = invoke("run", "Print", "-m", model, "--approve", "--out", str(runs), input="e\n")

    assert result.exit_code == EXIT_OK, result.output
    assert "print('original')" in result.stderr  # the cell was shown before the question
    assert "│ edited" in result.stderr  # the edited cell ran


@pytest.mark.usefixtures("terminal")
def test_approval_at_the_terminal_rejects_with_a_reason(script: Script, runs: Path) -> None:
    model = answering(script, "import os\nos.remove('precious')", "gone")

    result = invoke(
        "run", "Delete", "-m", model, "--approve", "--out", str(runs), input="r\ntoo risky\n"
    )

    assert result.exit_code == EXIT_REJECTED
    assert "The cell was rejected: too risky" in result.stderr


# -- reading runs back ---------------------------------------------------------------------------


def test_threads_show_and_export(script: Script, runs: Path, tmp_path: Path) -> None:
    cell = "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.show()\nprint('drawn')"
    first = invoke(
        "run", "Draw squares", "-m", answering(script, cell), "--out", str(runs), "--thread", "a"
    )
    assert first.exit_code == EXIT_OK, first.output
    paused = invoke(
        "run", "Wait", "-m", answering(script), "--approve", "--out", str(runs), "--thread", "b"
    )
    assert paused.exit_code == EXIT_AWAITING

    listed = invoke("threads", "--out", str(runs))

    assert listed.exit_code == EXIT_OK, listed.output
    rows = [line for line in listed.stdout.splitlines() if line.startswith(("a ", "b "))]
    assert rows[0].startswith("b ")
    assert "awaiting_approval" in rows[0]
    assert rows[1].startswith("a ")
    assert "answered" in rows[1]
    assert " s ago" in listed.stdout
    as_json = json.loads(invoke("threads", "--out", str(runs), "--json").stdout)
    assert [(run["thread_id"], run["status"], run["cells"]) for run in as_json] == [
        ("b", "awaiting_approval", 0),
        ("a", "answered", 1),
    ]

    shown = invoke("show", "a", "--out", str(runs))

    assert shown.exit_code == EXIT_OK, shown.output
    for part in ("Draw squares", "Compute the value and print it", "plt.plot", "drawn", "42"):
        assert part in shown.stdout

    target = tmp_path / "exported"
    exported = invoke(
        "export",
        "a",
        "--out",
        str(runs),
        "--notebook",
        str(target / "run.ipynb"),
        "--markdown",
        str(target / "run.md"),
    )

    assert exported.exit_code == EXIT_OK, exported.output
    notebook = nbformat.read(str(target / "run.ipynb"), as_version=4)
    nbformat.validate(notebook)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    markdown = (target / "run.md").read_text()
    assert "![figure-1.png](../runs/a/artifacts/cell-1/figure-1.png)" in markdown
    assert (target / "../runs/a/artifacts/cell-1/figure-1.png").is_file()


# -- bad input -----------------------------------------------------------------------------------


def test_bad_input_gets_a_clear_message_and_exit_2(
    script: Script, runs: Path, tmp_path: Path
) -> None:
    out = ("--out", str(runs))
    model = answering(script)
    cases = {
        "not found": invoke("run", "x", "-f", str(tmp_path / "absent.csv"), "-m", model, *out),
        "not of the form 'provider:model'": invoke("run", "x", "-m", "gpt4", *out),
        "No record file": invoke("run", "x", "-m", f"replay:{tmp_path / 'none'}", *out),
        "does not exist": invoke("run", "x", "-m", model, "--db", "sqlite:///nope.db", *out),
        "Unknown sandbox": invoke("run", "x", "-m", model, "--sandbox", "vm", *out),
        "The task is empty": invoke("run", " ", "-m", model, *out),
    }
    for message, result in cases.items():
        assert result.exit_code == EXIT_USAGE, (message, result.output)
        assert message in result.stderr, result.stderr

    assert invoke("run", "x", "-m", model, "--thread", "t", *out, "-q").exit_code == EXIT_OK
    taken = invoke("run", "y", "-m", model, "--thread", "t", *out)
    assert taken.exit_code == EXIT_USAGE
    assert "exists already" in taken.stderr
    for command in (["show", "nope"], ["resume", "nope"], ["export", "nope", "--notebook", "x"]):
        unknown = invoke(*command, *out)
        assert unknown.exit_code == EXIT_USAGE, unknown.output
        assert "No run with thread id 'nope'" in unknown.stderr
    empty = invoke("show", "nope", "--out", str(tmp_path / "nothing-here"))
    assert empty.exit_code == EXIT_USAGE
    assert not (tmp_path / "nothing-here").exists()  # reading never creates a store
    assert invoke("resume", "t", "--decision", "approve", *out).exit_code == EXIT_USAGE


def test_a_database_that_is_not_reachable(script: Script, runs: Path) -> None:
    result = invoke(
        "run",
        "x",
        "-m",
        answering(script),
        "--out",
        str(runs),
        "--db",
        "shop=postgresql://nobody:secret@127.0.0.1:1/shop",
    )

    assert result.exit_code == EXIT_USAGE
    assert "Could not connect to database 'shop'" in result.stderr
    assert "secret" not in result.stderr


def test_a_sandbox_that_cannot_start_exits_3(
    script: Script, runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("RUNPAD_SANDBOX_ENV", str(tmp_path / "empty"))

    result = invoke("run", "x", "-m", answering(script), "--out", str(runs))

    assert result.exit_code == EXIT_SANDBOX
    assert "runpad sandbox setup" in result.stderr


# -- runpad demo ---------------------------------------------------------------------------------


def test_demo_runs_every_question_and_reports_what_the_code_printed(
    script: Script, tmp_path: Path
) -> None:
    model = answering(script, "print(1234 * 5678)", "7006652")

    result = invoke("demo", "-m", model, "--out", str(tmp_path / "demo"))

    assert result.exit_code == EXIT_OK, result.output
    assert "runpad demo" in result.stderr
    assert "What is 1234 * 5678?" in result.stderr
    assert "How many rows does sales.csv have?  (sales.csv)" in result.stderr
    assert result.stderr.count("7006652") >= 6  # answered and computed, three times
    reports = sorted((tmp_path / "demo").glob("*/report.md"))
    assert len(reports) == 3
    assert all(f"report: {report}" in result.stderr for report in reports)
