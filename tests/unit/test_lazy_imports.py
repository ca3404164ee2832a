"""`import runpad` and the quick commands load no heavy module (issue #12).

Each command runs as the user runs it, `python -m runpad ...` in a fresh interpreter, which
writes the names in `sys.modules` to a file as it exits. (`-X importtime` would miss
modules imported through `importlib.import_module`, as the lazy names of `runpad` are.)
How fast the commands start is measured by `benchmarks/cli_startup.py`, not asserted here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runpad.cli import COMMANDS
from tests.fixtures.stored_runs import LONG_LINE, StoredRuns

HEAVY = (
    "langgraph",
    "langchain",
    "langchain_core",
    "sqlalchemy",
    "jupyter_client",
    "zmq",
    "llama_cpp",
    "pandas",
    "ray",
    "runpad.context",
    "runpad.cluster",
    "runpad.sql",
    "runpad.runner",
    "runpad.graphs",
    "runpad.agents",
    "runpad.models",
    "runpad.tools",
    "runpad.sandbox.local",
    "runpad.sandbox.kernel",
    "runpad.sandbox.docker",
    "runpad.sandbox.e2b",
    "runpad.sandbox.unsafe_local",
    "runpad.sandbox.fake",
    "runpad.sandbox.pool",
    "runpad.sandbox.manager",
)
"""Modules (and their submodules) that the quick commands must not import."""


_RECORD_MODULES = """
import atexit, runpy, sys
from pathlib import Path

record = Path(sys.argv[1])
atexit.register(lambda: record.write_text("\\n".join(sorted(sys.modules))))
target, sys.argv = sys.argv[2], sys.argv[2:]
if target == "-c":
    exec(sys.argv[1])
else:
    runpy.run_module(target, run_name="__main__", alter_sys=True)
"""


def imported_modules(
    tmp_path: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `python ARGS` ("-c CODE" or "MODULE ARGS..."); its result, and the modules it
    had imported when it exited."""
    record = tmp_path / "modules.txt"
    result = subprocess.run(
        [sys.executable, "-c", _RECORD_MODULES, str(record), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        timeout=120,
    )
    modules = set(record.read_text().split("\n")) if record.is_file() else set()
    return result, modules


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(f"{h}.") for h in HEAVY))


def test_importing_runpad_loads_no_heavy_module(tmp_path: Path) -> None:
    result, modules = imported_modules(tmp_path, "-c", "import runpad; print(runpad.__version__)")

    assert result.returncode == 0, result.stderr[-2000:]
    assert "runpad" in modules
    assert heavy(modules) == []


def test_the_check_sees_heavy_modules_where_they_are_imported(tmp_path: Path) -> None:
    """The test above could not pass by missing what it looks for."""
    result, modules = imported_modules(tmp_path, "-c", "import runpad; runpad.run")

    assert result.returncode == 0, result.stderr[-2000:]
    assert {"langgraph", "langchain_core", "runpad.runner"} <= set(heavy(modules))


@pytest.mark.parametrize(
    "command",
    [
        ["--version"],
        ["--help"],
        ["threads"],
        ["threads", "--json"],
        ["show", "answered"],
        ["show", "stopped", "--json"],
        ["export", "answered", "--notebook", "{tmp}/run.ipynb", "--markdown", "{tmp}/run.md"],
    ],
    ids=" ".join,
)
def test_quick_commands_load_no_heavy_module(
    command: list[str], stored_runs: StoredRuns, tmp_path: Path
) -> None:
    args = [part.format(tmp=tmp_path) for part in command]
    if args[0] not in ("--version", "--help"):
        args += ["--out", str(stored_runs.runs)]

    result, modules = imported_modules(tmp_path, "runpad", *args)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "runpad.cli" in modules
    assert heavy(modules) == []


def test_quick_commands_show_what_they_read(stored_runs: StoredRuns, tmp_path: Path) -> None:
    """The light reader's output, as the user sees it (the agreement with LangGraph's own
    reading is tested in tests/graph/test_run_reader.py)."""
    out = ["--out", str(stored_runs.runs)]
    run = subprocess.run(
        [sys.executable, "-m", "runpad", "threads", *out],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    rows = {line.split()[0]: line for line in run.stdout.splitlines() if line.strip()}
    assert "answered" in rows["answered"]
    assert "awaiting_approval" in rows["waiting"]
    assert "stopped" in rows["stopped"]
    assert "SyntaxError" in run.stdout
    assert LONG_LINE[:200] not in run.stdout  # the reason is one readable line


def test_every_command_is_listed_with_its_own_summary() -> None:
    """`runpad --help` shows COMMANDS' summaries without importing the commands: each must
    be the first paragraph of the command's own help."""
    for name, lazy in COMMANDS.items():
        command = lazy.load(name)
        own = (command.help or "").split("\n\n")[0]
        assert " ".join(own.split()) == lazy.summary, name


SQL_LIBRARIES = ("sqlalchemy", "sqlglot")


@pytest.mark.parametrize(
    ("settings", "loads_sql"),
    [("", False), ("databases={'shop': 'sqlite:///shop.db'}", True)],
    ids=["without databases", "with a database"],
)
def test_sql_libraries_load_only_for_a_run_with_databases(
    settings: str, loads_sql: bool, tmp_path: Path
) -> None:
    """A run, or a resume (which pays for its imports like any command), that has no
    database never needs SQLAlchemy or sqlglot; one with a database loads them (so the
    check can fail)."""
    code = (
        f"import runpad, runpad.runner; runpad.Context({settings}); runpad.build_analysis_graph()"
    )
    result, modules = imported_modules(tmp_path, "-c", code)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "runpad.graphs" in modules
    loaded = sorted(m for m in modules if m.split(".")[0] in SQL_LIBRARIES)
    assert bool(loaded) is loads_sql, loaded[:5]
