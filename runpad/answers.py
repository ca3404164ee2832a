"""Reading an answer out of text: numbers as people print them, and a key to compare by.

One reader serves the evaluation's checkers (what number did the answer state?) and the
graph's vote (do two programs print the same answer?), so that what counts as "the same
answer" is one rule everywhere.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

__all__ = ["answer_key", "last_number", "parse_number"]

# A sign counts only where it cannot be a hyphen ("2024-11-03" holds no negative numbers).
_NUMBER = re.compile(
    r"(?<![\w.])(?:[-−](?=[\d.]))?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
    r"(?:[eE][-+]?\d+)?"
)
_TRIM = " \t.!*`'\"“”‘’:;,"


def parse_number(text: str) -> float | None:
    """A number written as `1,234.5`, `-7`, `1e-3` (with `$` or `%` around it), or None."""
    cleaned = text.strip().strip("$%*`'\" ").replace(",", "").replace("−", "-")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def last_number(text: str) -> str | None:
    """The last number written in `text`, as written (commas removed)."""
    found = _NUMBER.findall(text)
    return found[-1].replace(",", "").replace("−", "-") if found else None


def answer_key(output: str) -> str | None:
    """What a program's printed output answers, as a key that equal answers share.

    The answer is the last line printed (programs print their result last); its last
    number, written canonically ("18", "18.0" and "Mean: 18" share the key "18"), or else
    the line itself, case and surrounding punctuation aside. None for empty output.
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        return None
    last = lines[-1]
    number = last_number(last)
    if number is not None:
        try:
            value = Decimal(number)
        except InvalidOperation:  # pragma: no cover - the pattern only matches numbers
            return number
        if value.is_finite():
            # Exact: big integers keep every digit, 2.50 and 2.5 are one answer.
            return format(value.normalize(), "f") if value != 0 else "0"
    return " ".join(last.strip(_TRIM).casefold().split()) or None
