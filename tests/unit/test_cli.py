"""The `runpad` command: exit codes, output streams, JSON, and the sandbox commands."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from runpad.cli import EXIT_FAILED, EXIT_OK, EXIT_SANDBOX, EXIT_USAGE, app
from runpad.cli import sandbox as sandbox_cli
from runpad.sandbox.environment import SandboxEnvironment
from runpad.sandbox.factory import BACKENDS
from runpad.sandbox.local.check import NAMESPACES


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], str]:
    def write_file(name: str, code: str) -> str:
        path = tmp_path / name
        path.write_text(code)
        return str(path)

    return write_file


# -- runpad sandbox run ----------------------------------------------------------------------


@pytest.mark.usefixtures("require_sandbox")
def test_run_files_share_one_session(write: Callable[[str, str], str]) -> None:
    first = write("first.py", "x = 21\nprint('first ran')\n")
    second = write("second.py", "print('double:', x * 2)\nx * 2\n")

    result = invoke("sandbox", "run", first, second)

    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout.splitlines() == ["first ran", "double: 42", "42"]
    assert "[first.py] ok" not in result.stdout  # summaries go to stderr
    assert f"[{first}] ok" in result.stderr
    assert f"[{second}] ok" in result.stderr


@pytest.mark.usefixtures("require_deno")
def test_run_javascript_and_typescript_files_share_the_session(
    write: Callable[[str, str], str],
) -> None:
    script = write("first.js", "const base = 40;\nawait Deno.writeTextFile('n.txt', '2')\n")
    typed = write(
        "second.ts",
        "const n: number = Number(await Deno.readTextFile('n.txt'));\nconsole.log(base + n)\n",
    )
    python = write("third.py", "print(open('n.txt').read() * 3)\n")

    result = invoke("sandbox", "run", script, typed, python)

    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout.splitlines() == ["42", "222"]


@pytest.mark.usefixtures("require_sandbox")
def test_run_reads_standard_input(write: Callable[[str, str], str]) -> None:
    assert invoke("sandbox", "run", input="print(6 * 7)\n").stdout == "42\n"

    setup = write("setup.py", "base = 40\n")
    result = invoke("sandbox", "run", setup, "-", input="print(base + 2)\n")

    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout == "42\n"
    assert "[<stdin>] ok" in result.stderr


@pytest.mark.usefixtures("require_sandbox")
def test_run_json_lists_executions(write: Callable[[str, str], str]) -> None:
    first = write(
        "first.py",
        "import sys\nprint('out')\nprint('err', file=sys.stderr)\n"
        "open('data.csv', 'w').write('a,b\\n1,2\\n')\n",
    )
    second = write("second.py", "{'answer': 42}\n")

    result = invoke("sandbox", "run", "--json", first, second)

    assert result.exit_code == EXIT_OK, result.output
    executions = json.loads(result.stdout)  # nothing but the document on stdout
    assert len(executions) == 2
    one, two = executions
    assert (one["stdout"], one["stderr"], one["error"]) == ("out\n", "err\n", None)
    assert one["duration_ms"] > 0
    assert [e["execution_count"] for e in executions] == [1, 2]
    (artifact,) = one["artifacts"]
    content = b"a,b\n1,2\n"
    assert artifact == {
        "name": "data.csv",
        "size": len(content),
        "mime_type": "text/csv",
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    assert two["results"][0]["data"]["text/plain"] == "{'answer': 42}"
    assert two["results"][0]["is_main_result"] is True


@pytest.mark.usefixtures("require_sandbox")
def test_error_cell_exits_1_and_stops(write: Callable[[str, str], str]) -> None:
    good = write("good.py", "print('before')\n")
    bad = write("bad.py", "1 / 0\n")
    after = write("after.py", "print('after')\n")

    result = invoke("sandbox", "run", good, bad, after)

    assert result.exit_code == EXIT_FAILED
    assert result.stdout == "before\n"
    assert "ZeroDivisionError" in result.stderr
    assert "Traceback" in result.stderr
    assert "Skipped 1 remaining cell" in result.stderr

    kept_going = invoke("sandbox", "run", "--json", "--keep-going", good, bad, after)

    assert kept_going.exit_code == EXIT_FAILED
    executions = json.loads(kept_going.stdout)
    assert [e["error"]["name"] if e["error"] else None for e in executions] == [
        None,
        "ZeroDivisionError",
        None,
    ]
    assert executions[2]["stdout"] == "after\n"


@pytest.mark.usefixtures("require_sandbox")
def test_timeout_exits_1(write: Callable[[str, str], str]) -> None:
    slow = write("slow.py", "import time\ntime.sleep(30)\n")

    started = time.monotonic()
    result = invoke("sandbox", "run", "--json", "--timeout", "1", slow)

    assert time.monotonic() - started < 20
    assert result.exit_code == EXIT_FAILED
    (execution,) = json.loads(result.stdout)
    assert execution["timed_out"] is True
    assert execution["error"]["name"] == "TimeoutError"


@pytest.mark.usefixtures("require_sandbox")
def test_output_streams_while_the_cell_runs() -> None:
    code = "import time\nprint('early', flush=True)\ntime.sleep(3)\nprint('late')\n"
    with subprocess.Popen(
        [sys.executable, "-m", "runpad", "sandbox", "run", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            process.stdin.write(code)
            process.stdin.close()
            assert process.stdout.readline() == "early\n"
            early_at = time.monotonic()
            assert process.stdout.readline() == "late\n"
            late_at = time.monotonic()
            assert process.wait(timeout=60) == EXIT_OK
        finally:
            process.kill()
    assert late_at - early_at > 2  # 'early' arrived while the cell was still sleeping


@pytest.mark.usefixtures("require_sandbox")
def test_unsafe_local_warns_on_stderr(write: Callable[[str, str], str]) -> None:
    script = write("hello.py", "print('hello')\n")

    result = invoke("sandbox", "run", "--json", "--backend", "unsafe-local", script)

    assert result.exit_code == EXIT_OK, result.output
    assert "WITHOUT isolation" in result.stderr
    assert "WITHOUT isolation" not in result.stdout
    assert json.loads(result.stdout)[0]["stdout"] == "hello\n"


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("sandbox", "run", str(tmp_path / "nope.py"))

    assert result.exit_code == EXIT_USAGE
    assert "no such file" in result.stderr
    assert "nope.py" in result.stderr


def test_unknown_backend_lists_the_valid_ones(write: Callable[[str, str], str]) -> None:
    script = write("hello.py", "print('hello')\n")

    result = invoke("sandbox", "run", "--backend", "nonesuch", script)

    assert result.exit_code == EXIT_USAGE
    assert "nonesuch" in result.stderr
    for name in BACKENDS:
        assert name in result.stderr


def test_bad_timeout_is_a_usage_error(write: Callable[[str, str], str]) -> None:
    script = write("hello.py", "print('hello')\n")

    result = invoke("sandbox", "run", "--timeout", "0", script)

    assert result.exit_code == EXIT_USAGE
    assert "timeout" in result.stderr


def test_unavailable_sandbox_exits_3_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: Callable[[str, str], str]
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("RUNPAD_SANDBOX_ENV", str(tmp_path / "empty"))
    script = write("hello.py", "print('hello')\n")

    result = invoke("sandbox", "run", "--json", script)

    assert result.exit_code == EXIT_SANDBOX
    assert result.stdout == ""
    # without bwrap the message names bubblewrap instead; both say what to do
    assert "runpad sandbox setup" in result.stderr or "apt-get install" in result.stderr


# -- runpad sandbox check --------------------------------------------------------------------


@pytest.mark.usefixtures("require_sandbox")
def test_check_json_says_isolated() -> None:
    result = invoke("sandbox", "check", "--json")

    assert result.exit_code == EXIT_OK, result.output
    report = json.loads(result.stdout)
    assert report["isolated"] is True
    assert report["problem"] is None
    layers = {layer["name"]: layer for layer in report["layers"]}
    for label in NAMESPACES:
        assert layers[f"{label} namespace"]["active"] is True
    assert layers["seccomp"]["active"] is True
    assert layers["network"]["active"] is True
    assert layers["read-only root"]["active"] is True
    limits = {layer["name"] for layer in report["limits"]}
    assert {"processes", "memory", "cpu", "disk", "/tmp", "output"} <= limits


@pytest.mark.usefixtures("require_sandbox")
def test_check_table() -> None:
    result = invoke("sandbox", "check")

    assert result.exit_code == EXIT_OK, result.output
    assert "network namespace" in result.stdout
    assert "seccomp" in result.stdout
    assert "Isolated: every essential layer holds." in result.stdout


def test_check_without_environment_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPAD_SANDBOX_ENV", str(tmp_path / "empty"))

    result = invoke("sandbox", "check")
    as_json = invoke("sandbox", "check", "--json")

    assert result.exit_code == EXIT_FAILED
    assert "cannot run here" in result.stdout
    assert as_json.exit_code == EXIT_FAILED
    report = json.loads(as_json.stdout)
    assert report["isolated"] is False
    assert report["problem"]


# -- runpad sandbox setup --------------------------------------------------------------------


def test_setup_failure_exits_1_with_the_reason(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    result = invoke("sandbox", "setup", "--path", str(blocker / "env"))

    assert result.exit_code == EXIT_FAILED
    assert "could not be set up" in result.stderr
    assert "a-file" in result.stderr


def test_setup_passes_path_and_packages_and_shows_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def fake_setup(
        path: Path | None,
        *,
        extra_packages: Sequence[str],
        log: Callable[[str], None],
    ) -> SandboxEnvironment:
        calls.append({"path": path, "extra_packages": list(extra_packages)})
        log("Installing 2 packages")
        return SandboxEnvironment(tmp_path / "env")

    monkeypatch.setattr(sandbox_cli, "setup_environment", fake_setup)

    result = invoke(
        "sandbox", "setup", "--path", str(tmp_path / "env"), "-p", "polars", "--package", "duckdb"
    )

    assert result.exit_code == EXIT_OK, result.output
    assert calls == [{"path": tmp_path / "env", "extra_packages": ["polars", "duckdb"]}]
    assert "Installing 2 packages" in result.stderr
    assert "runpad sandbox check" in result.stderr


# -- the command itself ----------------------------------------------------------------------


def test_help_lists_the_sandbox_commands() -> None:
    top = invoke("--help")
    sandbox = invoke("sandbox", "--help")

    assert top.exit_code == EXIT_OK
    assert "sandbox" in top.stdout
    for command in ("setup", "check", "run"):
        assert command in sandbox.stdout


def test_a_misspelt_command_gets_a_suggestion() -> None:
    result = invoke("thread")

    assert result.exit_code == EXIT_USAGE
    assert "Did you mean 'threads'?" in result.output


@pytest.mark.parametrize("module", ["runpad", "runpad.cli"])
def test_python_dash_m(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--version"],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=60,
    )

    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.strip() == "runpad 0.1.0"
