"""Reading what a model wrote: code blocks, plans, routes and verdicts, from plain text.

Models without tool calling answer in prose with fenced blocks, and small models break
every format now and then; each parser here accepts the common deviations and returns
None (or a safe default) rather than raising, so the graph can ask again.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Literal

from runpad.state import PlanStep, StepKind

__all__ = [
    "Verdict",
    "extract_code",
    "parse_plan",
    "parse_route",
    "parse_verdict",
]

_LANGUAGE_TAGS: dict[str, set[str]] = {
    "python": {"python", "py", "python3", "ipython", "ipython3", "pycon"},
    "shell": {"bash", "sh", "shell", "console", "zsh"},
    "sql": {"sql", "sqlite", "postgresql", "postgres", "psql"},
    "dot": {"dot", "graphviz", "gv"},
    "javascript": {"javascript", "js", "mjs", "jsx", "node", "nodejs", "deno"},
    "typescript": {"typescript", "ts", "tsx", "mts"},
}
# A model asked for one of these often tags its block with the other; TypeScript is a
# superset of JavaScript, and the Deno kernel takes both, so the sibling's block is taken
# when no block carries the asked tag.
_SIBLING_LANGUAGE = {"javascript": "typescript", "typescript": "javascript"}
_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<tag>[\w+-]*)[^\n]*$", re.MULTILINE)


def extract_code(text: str, language: str = "python") -> str | None:
    """The code in a reply: its fenced blocks of `language` (or untagged), joined in order.

    Handles prose around the blocks, several blocks, a missing language tag and an
    unterminated fence (the block runs to the end). A reply with no fence at all counts as
    code only when it parses as Python and is not a sentence.
    """
    blocks = _fenced_blocks(text)
    wanted = _LANGUAGE_TAGS.get(language, {language})
    tagged = [code for tag, code in blocks if tag in wanted]
    if not tagged and language in _SIBLING_LANGUAGE:
        sibling = _LANGUAGE_TAGS[_SIBLING_LANGUAGE[language]]
        tagged = [code for tag, code in blocks if tag in sibling]
    untagged = [code for tag, code in blocks if not tag]
    chosen = tagged or untagged
    if chosen:
        code = "\n\n".join(block.strip("\n") for block in chosen).strip()
        return code or None
    if blocks or language != "python":
        return None
    return _bare_python(text)


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(tag, body) of each fenced block; an unclosed fence runs to the end of the text."""
    blocks = []
    position = 0
    while match := _FENCE.search(text, position):
        fence, tag = match.group("fence"), match.group("tag").lower()
        start = match.end() + 1
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
        end_match = closing.search(text, start)
        end = end_match.start() if end_match else len(text)
        blocks.append((tag, text[start:end]))
        position = end_match.end() if end_match else len(text)
    return blocks


def _bare_python(text: str) -> str | None:
    stripped = text.strip()
    if not stripped:
        return None
    try:
        tree = ast.parse(stripped)
    except SyntaxError:
        return None
    # A lone name or constant ("Hello", "42") is an answer, not a program.
    if all(
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Name | ast.Constant)
        for node in tree.body
    ):
        return None
    return stripped


_STEP_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*])\s+(?P<body>.+)$")
_CHECK_SPLIT = re.compile(r"\s*(?:\||—|--|;)?\s*(?:check|success|verify|criterion)\s*:\s*", re.I)
_KIND_HINTS: tuple[tuple[StepKind, re.Pattern[str]], ...] = (
    ("sql", re.compile(r"\bsql\b|\bquery the (?:database|table)", re.I)),
    ("dot", re.compile(r"\bgraphviz\b|\bdot diagram\b|\bdot language\b", re.I)),
    ("typescript", re.compile(r"\btypescript\b", re.I)),
    ("javascript", re.compile(r"\bjavascript\b|\bnode\.?js\b|\bdeno\b", re.I)),
    ("search", re.compile(r"\bsearch the web\b|\bweb search\b|\blook up online\b", re.I)),
    ("docs", re.compile(r"\bdocumentation\b|\bdocstring\b|\bapi reference\b", re.I)),
)


_KIND_TAG = re.compile(r"^[\[(]\s*(?P<kind>[a-z]+)\s*[\])]\s*:?\s*", re.I)
_KINDS: dict[str, StepKind] = {
    "python": "python",
    "py": "python",
    "code": "python",
    "sql": "sql",
    "dot": "dot",
    "graphviz": "dot",
    "diagram": "dot",
    "javascript": "javascript",
    "js": "javascript",
    "typescript": "typescript",
    "ts": "typescript",
    "search": "search",
    "web": "search",
    "docs": "docs",
    "doc": "docs",
    "documentation": "docs",
}


def parse_plan(text: str, task: str, max_steps: int) -> list[PlanStep]:
    """Steps from a numbered (or bulleted) list; the whole task as one step if none parse.

    A step's kind is its leading tag (`1. [sql] Count the orders`), else guessed from its
    words ("query the database", "Graphviz", "TypeScript", "JavaScript", "search the web",
    "documentation").
    """
    steps: list[PlanStep] = []
    for line in text.splitlines():
        match = _STEP_LINE.match(line)
        if not match:
            continue
        body = match.group("body").strip()
        tag = _KIND_TAG.match(body)
        tagged: StepKind | None = None
        if tag and tag.group("kind").lower() in _KINDS:
            tagged = _KINDS[tag.group("kind").lower()]
            body = body[tag.end() :]
        parts = _CHECK_SPLIT.split(body, maxsplit=1)
        description = parts[0].strip(" |-—")
        if not description:
            continue
        criterion = (
            parts[1].strip()
            if len(parts) > 1 and parts[1].strip()
            else ("the cell runs without error and prints its result")
        )
        kind = tagged or _kind(description)
        steps.append(PlanStep(description=description, success_criterion=criterion, kind=kind))
    if not steps:
        steps = [
            PlanStep(
                description=f"Compute the answer to the task and print it: {task}",
                success_criterion="the printed output answers the task",
                kind="python",
            )
        ]
    return steps[:max_steps]


def _kind(description: str) -> StepKind:
    for kind, pattern in _KIND_HINTS:
        if pattern.search(description):
            return kind
    return "python"


def parse_route(text: str) -> tuple[Literal["work", "answer"], str | None]:
    """("answer", the answer) when the router answered directly, else ("work", None)."""
    route = re.search(r"ROUTE\s*:\s*(\w+)", text, re.I)
    answer = re.search(r"ANSWER\s*:\s*(.+)", text, re.I | re.S)
    if route and route.group(1).lower() == "answer" and answer and answer.group(1).strip():
        return "answer", answer.group(1).strip()
    return "work", None


@dataclass(frozen=True)
class Verdict:
    """The reviewer model's judgement of a cell."""

    action: Literal["next", "done", "repair", "replan"]
    notes: str = ""
    answer: str | None = None


def parse_verdict(text: str) -> Verdict:
    """The verdict in a reviewer reply; an unreadable reply means "next" (move on)."""
    match = re.search(r"VERDICT\s*:\s*\**\s*(next|done|repair|replan)", text, re.I)
    action = match.group(1).lower() if match else "next"
    notes = re.search(r"NOTES\s*:\s*(.+)", text, re.I | re.S)
    answer = re.search(r"ANSWER\s*:\s*(.+)", text, re.I | re.S)
    if action == "done":
        return Verdict("done", answer=answer.group(1).strip() if answer else None)
    if action in ("repair", "replan"):
        return Verdict(action, notes=notes.group(1).strip() if notes else "")  # type: ignore[arg-type]
    return Verdict("next")
