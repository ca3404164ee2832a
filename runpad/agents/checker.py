"""Static check: syntax errors and undefined names, found before anything runs.

The kernel is stateful, so a name is defined if an earlier successful cell defined it;
IPython's shell (`!cmd`) and magic (`%time`) lines are masked before parsing.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterable
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command
from pyflakes import checker as pyflakes_checker
from pyflakes import messages as pyflakes_messages

from runpad.agents.voting import give_up_on_try
from runpad.context import Context
from runpad.state import AnalysisState

__all__ = ["check_cell", "defined_names", "mask_ipython_syntax", "static_findings"]

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


async def check_cell(
    state: AnalysisState, runtime: Runtime[Context]
) -> Command[Literal["approval", "executor", "coder", "planner", "reporter"]]:
    """The static check node: findings go back to the coder without a sandbox run."""
    context = runtime.context
    draft = state.get("draft")
    if draft is None:  # nothing to check: the coder decides again
        return Command(goto="coder")
    if draft["language"] == "python":
        known = defined_names(
            cell["code"]
            for cell in state.get("cells", [])
            if cell["ok"] and cell["language"] == "python"
        )
        findings = static_findings(draft["code"], known)
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
