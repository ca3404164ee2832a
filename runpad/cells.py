"""Facts about cells that the layers which run them and the files which record them share.

This module imports nothing, so that the report and the notebook a run exports (and the
`runpad show` / `runpad export` commands that write them) need neither the graph nor a
sandbox backend.
"""

from __future__ import annotations

__all__ = [
    "DENO_KERNEL_LANGUAGES",
    "KERNEL_NAME",
    "PYTHON_KERNEL_LANGUAGES",
    "REPLAYED_LANGUAGES",
    "file_suffix",
    "lexer_name",
]

PYTHON_KERNEL_LANGUAGES = ("python", "shell")
"""Cells the sandbox's Python kernel runs: a snapshot holds what they left, and a run's
notebook (whose kernel is that one) runs them again."""

DENO_KERNEL_LANGUAGES = ("javascript", "typescript")
"""Cells the sandbox's Deno kernel runs. No snapshot holds its state, so a fresh session
replays every one of them that succeeded."""

REPLAYED_LANGUAGES = PYTHON_KERNEL_LANGUAGES + DENO_KERNEL_LANGUAGES
"""Cells that change a kernel's state, and so are replayed into a fresh session."""

KERNEL_NAME = "runpad"
"""The kernelspec name of runpad's sandbox kernel, which notebooks written by runpad carry."""

_LEXERS = {"shell": "bash", "dot": "graphviz"}
_SUFFIXES = {
    "python": ".py",
    "shell": ".sh",
    "sql": ".sql",
    "dot": ".dot",
    "javascript": ".js",
    "typescript": ".ts",
}


def lexer_name(language: str) -> str:
    """The Pygments lexer (also Rich's) that highlights cells of `language`."""
    return _LEXERS.get(language, language)


def file_suffix(language: str) -> str:
    """The file name suffix of a cell of `language`, for an editor to recognise it."""
    return _SUFFIXES.get(language, ".txt")
