"""Static check: syntax errors and undefined names, found before anything runs.

The kernel is stateful, so a name is defined if an earlier successful cell defined it;
IPython's shell (`!cmd`) and magic (`%time`) lines are masked before parsing.

JavaScript and TypeScript cells are parsed by Deno itself on this machine (`deno lint`,
the binary of the `deno` package): syntax errors and its `no-undef` rule, nothing more.
Type errors are not findings: the Deno kernel strips types without checking them, so a
cell with a type error still runs, and `deno check` would also want the npm packages'
types, which live in the sandbox. Deno lints a file without running it and is given no
permission flag; it only reads the cell, from its standard input.
"""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterable
from typing import Literal

from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime
from langgraph.types import Command
from pyflakes import checker as pyflakes_checker
from pyflakes import messages as pyflakes_messages

from runpad.agents.voting import give_up_on_try
from runpad.cells import DENO_KERNEL_LANGUAGES
from runpad.context import Context
from runpad.errors import MissingDependencyError
from runpad.events import CheckSkipped
from runpad.state import AnalysisState, CellRecord

__all__ = [
    "DENO_CHECK_TIMEOUT",
    "StaticCheckUnavailable",
    "check_cell",
    "defined_names",
    "deno_binary",
    "mask_ipython_syntax",
    "script_findings",
    "static_findings",
]

logger = logging.getLogger(__name__)

DENO_CHECK_TIMEOUT = 30.0
"""Seconds `deno lint` may take on one cell (it takes milliseconds; a busy machine may be slow)."""

_IPYTHON_NAMES = frozenset(
    {"display", "get_ipython", "In", "Out", "_", "__", "___", "exit", "quit", "_ih", "_oh"}
)
_MAGIC_LINE = re.compile(r"^(?P<indent>[ \t]*)(?:(?P<name>\w+)\s*=\s*)?[!%].*$")


def mask_ipython_syntax(code: str) -> str:
    """Replace shell and magic lines by `pass` (same indentation) so Python can parse it."""
    if code.lstrip().startswith("%%"):  # a cell magic: its body is not Python
        return "pass"
    return "\n".join(_mask_line(line) for line in code.splitlines())


def _mask_line(line: str) -> str:
    match = _MAGIC_LINE.match(line)
    if match is None:
        return line
    # `files = !ls` still binds `files`, so later lines may use it.
    name = match.group("name")
    return f"{match.group('indent')}{name} = None" if name else f"{match.group('indent')}pass"


def _parse(source: str) -> ast.Module:
    # Python warns about things like "\\w" in a string (a DeprecationWarning before 3.12, a
    # SyntaxWarning after); that is not an error in the cell, and must not become one
    # where warnings are errors (pytest, python -W error).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source)


def defined_names(cells: Iterable[str]) -> set[str]:
    """Every name that the given cells bind (assignments, imports, defs, loop targets)."""
    names: set[str] = set()
    for code in cells:
        try:
            tree = _parse(mask_ipython_syntax(code))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def static_findings(code: str, known_names: set[str]) -> list[str]:
    """Problems that would surely fail at run time, as lines for the coder to read."""
    source = mask_ipython_syntax(code)
    try:
        tree = _parse(source)
    except SyntaxError as exc:
        line = (exc.text or "").strip()
        return [f"SyntaxError: {exc.msg} at line {exc.lineno}" + (f": {line}" if line else "")]
    checker = pyflakes_checker.Checker(
        tree, filename="<cell>", builtins=set(known_names) | _IPYTHON_NAMES
    )
    findings = []
    for message in sorted(checker.messages, key=lambda m: m.lineno):
        if isinstance(message, pyflakes_messages.UndefinedName | pyflakes_messages.UndefinedLocal):
            findings.append(f"line {message.lineno}: {message.message % message.message_args}")
    return findings


def deno_binary() -> str:
    """The path of the Deno binary that the `deno` package installed.

    Raises:
        MissingDependencyError: the package is not installed, or its binary is missing.
    """
    try:
        import deno  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise MissingDependencyError(
            "deno (the JavaScript/TypeScript runtime)",
            "pip install 'runpad[js]' (the PyPI package deno: pip install deno)",
        ) from exc
    try:
        path = str(deno.find_deno_bin())
    except (FileNotFoundError, OSError) as exc:
        raise MissingDependencyError(
            f"The deno binary ({exc})", "pip install --force-reinstall deno"
        ) from exc
    if not os.access(path, os.X_OK):
        raise MissingDependencyError(
            f"The deno binary at {path}", "pip install --force-reinstall deno"
        )
    return path


class StaticCheckUnavailable(Exception):
    """Deno could not check the cell; the message says why. The graph lets such a cell run
    unchecked (the kernel reports its errors); it never reaches a caller of the graph."""


_UNDEFINED = re.compile(r"^(?P<name>[\w$]+) is not defined$")
_AT_LINE = re.compile(r":(?P<line>\d+):(?P<column>\d+)\s*$")


async def script_findings(
    code: str,
    language: Literal["javascript", "typescript"],
    earlier: Iterable[str] = (),
    *,
    timeout: float = DENO_CHECK_TIMEOUT,
) -> list[str]:
    """Syntax errors and undefined names in a JavaScript or TypeScript cell, by `deno lint`.

    A name counts as defined when any of the `earlier` cells (those the Deno kernel ran
    and kept) mentions it: the kernel keeps their top-level declarations, and a word test
    never refuses a cell that would run.

    Raises:
        MissingDependencyError: the `deno` package is not installed here.
        StaticCheckUnavailable: deno did not answer in `timeout` seconds, or not in JSON.
    """
    deno = deno_binary()
    # An empty HOME, DENO_DIR and working directory: no config file, cache or settings of
    # this machine's user are read, and nothing is left behind. (Made in a thread: an
    # async node must not block, or `langgraph dev` refuses it.)
    home = await asyncio.to_thread(tempfile.mkdtemp, prefix="runpad-deno-check-")
    try:
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "DENO_DIR": home,
            "NO_COLOR": "1",
            "DENO_NO_UPDATE_CHECK": "1",
            "DENO_NO_PROMPT": "1",
        }
        process = await asyncio.create_subprocess_exec(
            deno,
            "lint",
            "--json",
            "--no-config",
            "--rules-tags=",  # none of the style rules: only what fails at run time
            "--rules-include=no-undef",
            "--ext=ts",  # the Deno kernel runs JavaScript cells as TypeScript too
            "-",
            cwd=home,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(
                process.communicate(code.encode()), timeout=timeout
            )
        except TimeoutError:
            raise StaticCheckUnavailable(f"deno lint took more than {timeout:.0f} s") from None
        finally:
            if process.returncode is None:  # timed out or cancelled: no orphan left behind
                process.kill()
                await process.wait()
    finally:
        await asyncio.to_thread(shutil.rmtree, home, True)
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        problem = stderr.decode(errors="replace").strip() or stdout.decode(errors="replace")
        raise StaticCheckUnavailable(f"deno lint failed: {problem[:300]}") from None
    lines = code.splitlines()
    findings = [_syntax_finding(error["message"], lines) for error in report.get("errors", [])]
    known = _words(earlier)
    for diagnostic in report.get("diagnostics", []):
        undefined = _UNDEFINED.match(diagnostic.get("message", ""))
        if undefined is None or undefined.group("name") in known:
            continue
        line = diagnostic["range"]["start"]["line"]
        findings.append(f"line {line}: undefined name '{undefined.group('name')}'")
    return findings


def _syntax_finding(message: str, lines: list[str]) -> str:
    """`SyntaxError: <what> at line N: <the line>` from deno's multi-line message."""
    first = message.strip().splitlines()[0]
    at = _AT_LINE.search(message.strip().splitlines()[-1])
    if at is None:
        return first
    number = int(at.group("line"))
    source = lines[number - 1].strip() if 0 < number <= len(lines) else ""
    return f"{first} at line {number}" + (f": {source}" if source else "")


def _words(cells: Iterable[str]) -> set[str]:
    return {word for code in cells for word in re.findall(r"[\w$]+", code)}


async def _deno_findings(
    draft_code: str,
    language: Literal["javascript", "typescript"],
    cells: list[CellRecord],
) -> list[str]:
    """The findings of `script_findings`; when Deno cannot check, the cell runs unchecked
    and the stream says why."""
    earlier = [
        cell["code"] for cell in cells if cell["ok"] and cell["language"] in DENO_KERNEL_LANGUAGES
    ]
    try:
        return await script_findings(draft_code, language, earlier)
    except (MissingDependencyError, StaticCheckUnavailable) as exc:
        message = f"The {language} cell runs without a static check: {exc}"
        logger.warning("%s", message)
        get_stream_writer()(CheckSkipped(type="check_skipped", language=language, message=message))
        return []


async def check_cell(
    state: AnalysisState, runtime: Runtime[Context]
) -> Command[Literal["approval", "executor", "coder", "planner", "reporter"]]:
    """The static check node: findings go back to the coder without a sandbox run."""
    context = runtime.context
    draft = state.get("draft")
    if draft is None:  # nothing to check: the coder decides again
        return Command(goto="coder")
    findings: list[str] = []
    if draft["language"] == "python":
        known = defined_names(
            cell["code"]
            for cell in state.get("cells", [])
            if cell["ok"] and cell["language"] == "python"
        )
        findings = static_findings(draft["code"], known)
    elif draft["language"] == "javascript" or draft["language"] == "typescript":
        findings = await _deno_findings(draft["code"], draft["language"], state.get("cells", []))
    if findings:
        attempt = state.get("attempt", 0) + 1
        feedback = "The static check found problems before running:\n" + "\n".join(findings)
        if attempt >= context.limits.max_attempts_per_step:
            why = f"Step {state.get('step_index', 0) + 1} kept failing the static check: "
            return give_up_on_try(state, context, why + "; ".join(findings), attempt=attempt)
        return Command(
            goto="coder", update={"attempt": attempt, "draft": None, "feedback": feedback}
        )
    return Command(goto="approval" if context.approve else "executor")
