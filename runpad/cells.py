"""Facts about cells that the layers which run them and the files which record them share.

This module imports nothing, so that the report and the notebook a run exports (and the
`runpad show` / `runpad export` commands that write them) need neither the graph nor a
sandbox backend.
"""

from __future__ import annotations

__all__ = ["KERNEL_NAME", "REPLAYED_LANGUAGES", "SNAPSHOT_LANGUAGES"]

SNAPSHOT_LANGUAGES = ("python", "shell")
"""Cells whose effects a kernel snapshot keeps: the Python kernel's (`runpad.agents.snapshot`)."""

REPLAYED_LANGUAGES = (*SNAPSHOT_LANGUAGES, "javascript", "typescript")
"""Cells that change a kernel's state, and so are replayed into a fresh session: the Python
kernel's, and the Deno kernel's (JavaScript and TypeScript), which no snapshot keeps."""

KERNEL_NAME = "runpad"
"""The kernelspec name of runpad's sandbox kernel, which notebooks written by runpad carry."""
