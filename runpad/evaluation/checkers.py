"""Answer extraction and the benchmarks' own checks, as pure functions.

Each check follows the benchmark's own harness (see the benchmark folder's SOURCES.md):

| suite | what is compared | how |
|---|---|---|
| tiny | the last number, or the words | relative error 1e-6; strings exactly, trimmed, any case |
| gsm8k | the last number | against the number after `####`, relative error 1e-9 |
| gsm_hard | the last number | against `target`, absolute error 1e-3 (PAL's harness) |
| math500 | the `\\boxed{}` (or last LaTeX) answer | math-verify |
| dabench | every `@name[value]` | strings exactly, numbers within 1e-6 |
| operations_research | the last number | relative error 1e-4 ("No Best Solution": saying so) |
| humaneval, mbpp | the program | the unit tests, in the sandbox (`suites.py`) |
| sql_defog | the query's result set | `result_sets_match`, like defog's compare_df / subset_df |

Extraction is the same for every mode: a graph run's answer, a direct reply and the
oracle's answer all go through `final_answer_text` and the suite's check.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from runpad.answers import last_number, parse_number
from runpad.errors import MissingDependencyError

__all__ = [
    "Check",
    "check_dabench",
    "check_math",
    "check_number",
    "check_optimum",
    "check_tiny",
    "final_answer_text",
    "last_number",
    "numbers_match",
    "parse_dabench_answers",
    "parse_number",
    "result_sets_match",
    "run_sqlite",
]

_ANSWER_LABEL = re.compile(r"(?:final\s+)?answer\s*\**\s*[:：]\s*\**", re.IGNORECASE)


@dataclass(frozen=True)
class Check:
    """The verdict on one answer: correct or not, what was read from it, and why."""

    correct: bool
    extracted: str | None
    detail: str = ""


def _last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` (braces balanced), or None."""
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    brace = text.find("{", start)
    if brace < 0:
        return None
    depth = 0
    for position in range(brace, len(text)):
        if text[position] == "{":
            depth += 1
        elif text[position] == "}":
            depth -= 1
            if depth == 0:
                return text[brace + 1 : position]
    return None


def final_answer_text(text: str) -> str:
    """The part of a reply that states the answer: after the last "Answer:" label, the last
    `\\boxed{}`, or after `####`; otherwise the whole text."""
    labels = list(_ANSWER_LABEL.finditer(text))
    if labels:
        return text[labels[-1].end() :].strip()
    boxed = _last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    if "####" in text:
        return text.rsplit("####", 1)[1].strip()
    return text.strip()


def numbers_match(
    candidate: float, expected: float, *, rel_tol: float = 0.0, abs_tol: float = 0.0
) -> bool:
    return math.isclose(candidate, expected, rel_tol=rel_tol, abs_tol=abs_tol)


def check_number(
    text: str | None, expected: float, *, rel_tol: float = 0.0, abs_tol: float = 0.0
) -> Check:
    """The last number of the answer against `expected`."""
    if not text:
        return Check(False, None, "no answer")
    found = last_number(final_answer_text(text))
    if found is None:
        return Check(False, None, "no number in the answer")
    value = parse_number(found)
    if value is None:
        return Check(False, found, "not a number")
    correct = numbers_match(value, expected, rel_tol=rel_tol, abs_tol=abs_tol)
    return Check(correct, found, "" if correct else f"expected {expected:g}")


_NO_OPTIMUM = re.compile(
    r"no (?:best|optimal|feasible) solution|infeasible|unbounded|no optimum", re.IGNORECASE
)


def check_optimum(text: str | None, expected: str) -> Check:
    """operations_research: the optimal objective within relative error 1e-4; where the
    label is "No Best Solution", an answer that says the problem has no optimum."""
    gold = parse_number(expected)
    if gold is not None:
        return check_number(text, gold, rel_tol=1e-4)
    if text and (match := _NO_OPTIMUM.search(final_answer_text(text))):
        return Check(True, match.group(0))
    return Check(False, final_answer_text(text)[:200] if text else None, f"expected {expected!r}")


def _word_candidates(text: str) -> list[str]:
    """Ways a sentence may state a short string answer: the whole text, its last line, what
    follows "is"/"was", its last word."""
    trim = " \t\n.!*`'\"“”‘’"
    whole = text.strip(trim)
    last_line = whole.splitlines()[-1].strip(trim) if whole else ""
    candidates = [whole, last_line]
    match = re.search(r"\b(?:is|was|are|=)\s+(.+)$", last_line, re.IGNORECASE)
    if match:
        candidates.append(match.group(1).strip(trim))
    words = last_line.split()
    if words:
        candidates.append(words[-1].strip(trim + ",;:()"))
    return [candidate for candidate in candidates if candidate]


def check_tiny(text: str | None, expected: str) -> Check:
    """tiny: a number within relative error 1e-6, or a string exactly (trimmed, any case)."""
    number = parse_number(expected)
    if number is not None:
        return check_number(text, number, rel_tol=1e-6)
    if not text:
        return Check(False, None, "no answer")
    answer = final_answer_text(text)
    wanted = expected.strip().casefold()
    for candidate in _word_candidates(answer):
        if candidate.casefold() == wanted:
            return Check(True, candidate)
    return Check(False, answer[:200], f"expected {expected!r}")


def check_math(text: str | None, expected: str) -> Check:
    """math500: the answer's last `\\boxed{}` (or its LaTeX) against `expected` (math-verify)."""
    if not text:
        return Check(False, None, "no answer")
    try:
        from math_verify import parse, verify
    except ImportError as exc:
        raise MissingDependencyError("math-verify", "pip install 'runpad[eval]'") from exc
    # math-verify times out with signal.alarm, which only works in the main thread.
    main = threading.current_thread() is threading.main_thread()
    timeout = 5 if main else None
    gold = parse(f"${expected}$", parsing_timeout=timeout)
    boxed = _last_boxed(text)
    answer = parse(f"\\boxed{{{boxed}}}" if boxed is not None else text, parsing_timeout=timeout)
    extracted = boxed if boxed is not None else (str(answer[-1]) if answer else None)
    correct = bool(gold and answer and verify(gold, answer, timeout_seconds=timeout))
    return Check(correct, extracted, "" if correct else f"expected {expected}")


_DABENCH_ANSWER = re.compile(r"@(\w+)\[(.*?)\]", re.DOTALL)


def parse_dabench_answers(text: str) -> dict[str, str]:
    """`@name[value]` pairs; a name given twice keeps its last value."""
    return {name: value.strip() for name, value in _DABENCH_ANSWER.findall(text)}


def check_dabench(text: str | None, expected: str) -> Check:
    """dabench: every expected `@name[value]` present; strings exactly, numbers within 1e-6."""
    if not text:
        return Check(False, None, "no answer")
    wanted = parse_dabench_answers(expected)
    given = parse_dabench_answers(text)
    extracted = " ".join(f"@{name}[{value}]" for name, value in given.items()) or None
    for name, value in wanted.items():
        if name not in given:
            return Check(False, extracted, f"@{name} missing")
        expected_number, given_number = parse_number(value), parse_number(given[name])
        if expected_number is not None and given_number is not None:
            if not numbers_match(given_number, expected_number, abs_tol=1e-6):
                return Check(False, extracted, f"@{name}: expected {value}")
        elif given[name] != value:
            return Check(False, extracted, f"@{name}: expected {value!r}")
    return Check(True, extracted)


def _normalized_cell(value: object) -> object:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _sort_key(value: object) -> tuple[int, str]:
    return (0, "") if value is None else (1, repr(value))


def _columns(rows: Sequence[Sequence[object]], width: int) -> list[list[object]]:
    """Each column as a sorted list of normalized values (row order does not matter)."""
    return [
        sorted((_normalized_cell(row[index]) for row in rows), key=_sort_key)
        for index in range(width)
    ]


def result_sets_match(
    candidate: Sequence[Sequence[object]], gold: Sequence[Sequence[object]]
) -> bool:
    """Do a candidate query's rows answer like the gold query's?

    As defog's `compare_df` / `subset_df`: row order and column names are ignored, and the
    candidate may have extra columns, so it matches when every gold column appears among
    the candidate's columns (each compared as a multiset of values, floats to 6 places)
    and the row counts agree.
    """
    if len(candidate) != len(gold):
        return False
    if not gold:
        return True
    gold_width, candidate_width = len(gold[0]), len(candidate[0])
    if gold_width > candidate_width:
        return False
    if gold_width == candidate_width:
        # Same shape: compare whole rows first (the common case, and stricter).
        def rows(table: Sequence[Sequence[object]]) -> list[tuple[object, ...]]:
            normalized = [tuple(_normalized_cell(value) for value in row) for row in table]
            return sorted(normalized, key=lambda row: tuple(_sort_key(v) for v in row))

        if rows(candidate) == rows(gold):
            return True
    available = _columns(candidate, candidate_width)
    for column in _columns(gold, gold_width):
        if column in available:
            available.remove(column)
        else:
            return False
    return True


SQL_TIMEOUT_S = 30.0


def run_sqlite(database: str, query: str) -> list[tuple[object, ...]]:
    """A query's rows from a SQLite file opened read-only, stopped after SQL_TIMEOUT_S.

    Raises:
        sqlite3.Error: the query failed (or tried to write).
    """
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    deadline = time.monotonic() + SQL_TIMEOUT_S
    connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        return [tuple(row) for row in connection.execute(query).fetchall()]
    finally:
        connection.close()
