"""Fitting text into a limit: head and tail with the one omission marker, or one shortened line."""

from __future__ import annotations

import re

import pytest

from runpad.text import head_tail, omission_marker, one_line, shorten

MARKER = re.compile(r"\n\[\.\.\. (\d+) characters omitted \.\.\.\]\n")


@pytest.mark.parametrize("head_share", [0.0, 0.2, 0.5, 1.0])
def test_head_tail_keeps_both_ends_within_the_limit_and_counts_the_rest(head_share: float) -> None:
    text = "".join(f"{n:05}" for n in range(10_000))

    cut = head_tail(text, 1_000, head_share=head_share)

    head, omitted, tail = MARKER.split(cut)
    assert 990 <= len(cut) <= 1_000  # the marker's own length is counted, nothing is wasted
    assert text.startswith(head)
    assert tail == "" or text.endswith(tail)
    assert len(head) + int(omitted) + len(tail) == len(text)
    assert abs(len(head) - head_share * (len(head) + len(tail))) <= 1


def test_head_tail_leaves_short_text_alone_and_names_a_detail() -> None:
    assert head_tail("short", 1_000) == "short"
    cut = head_tail("x" * 500, 200, detail="the rest is in out.txt")
    assert "characters omitted; the rest is in out.txt ...]" in cut
    assert len(cut) <= 200
    assert head_tail("x" * 500, 5) == omission_marker(500)  # too small for anything else


def test_shorten_and_one_line_end_with_an_ellipsis() -> None:
    assert shorten("  kept as is\n", 20) == "kept as is"
    assert shorten("abcdefghij", 5) == "abcd…"
    line = one_line("first\n  second\tthird " + "x" * 300, 40)
    assert len(line) == 40
    assert line.startswith("first second third x")
    assert line.endswith("…")
