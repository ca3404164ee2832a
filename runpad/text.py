"""Fitting text into a limit: the one way runpad cuts text, and its one omission marker.

Two shapes, for two readers:

- `head_tail` keeps a text's head and tail and says, in the marker, how many characters were
  left out between them. For what a model or a user reads to act on (cell output, errors,
  tracebacks): the start says what ran, the end says how it ended.
- `shorten` and `one_line` cut a text's end and close it with an ellipsis. For a line in a
  table, a progress message or a title, where a marker would not fit.

A stream captured piece by piece (`runpad.sandbox.output.StreamCapture`) keeps its own head
and tail as the text arrives, and ends in the same marker (`omission_marker`).
"""

from __future__ import annotations

__all__ = ["ELLIPSIS", "head_tail", "omission_marker", "one_line", "shorten"]

ELLIPSIS = "…"


def omission_marker(omitted: int, detail: str | None = None) -> str:
    """The line that stands where `omitted` characters were cut, with an optional `detail`.

    Example:
        >>> omission_marker(120, "the whole stream is in out.txt")
        '\\n[... 120 characters omitted; the whole stream is in out.txt ...]\\n'
    """
    said = f"; {detail}" if detail else ""
    return f"\n[... {omitted} characters omitted{said} ...]\n"


def head_tail(text: str, limit: int, head_share: float = 0.5, detail: str | None = None) -> str:
    """`text` cut to at most `limit` characters, marker included: its head, the marker, its tail.

    `head_share` of the kept characters come from the start (a traceback keeps more of its
    end, say). A `limit` shorter than the marker leaves the marker alone.

    Example:
        >>> head_tail("abcdefghijklmnopqrstuvwxyz" * 4, 50)
        'abcdefgh\\n[... 88 characters omitted ...]\\nstuvwxyz'
    """
    if len(text) <= limit:
        return text
    # The marker's length depends on the count it states; the count is at most len(text).
    room = max(0, limit - len(omission_marker(len(text), detail)))
    head = int(room * head_share)
    tail = room - head
    marker = omission_marker(len(text) - head - tail, detail)
    return text[:head] + marker + (text[len(text) - tail :] if tail else "")


def shorten(text: str, limit: int) -> str:
    """`text` without surrounding blank space, cut to `limit` characters, an ellipsis last."""
    text = text.strip()
    return text if len(text) <= limit else text[: max(0, limit - 1)] + ELLIPSIS


def one_line(text: str, limit: int = 160) -> str:
    """`text` as one line (runs of blank space, newlines too, become one space), shortened.

    For a stop reason in a table or a title: a SyntaxError's message quotes the offending
    line, which a model may have written 2,000 characters long.
    """
    return shorten(" ".join(text.split()), limit)
