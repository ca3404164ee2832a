"""Facts about cells that the layers which run them and the files which record them share.

This module imports nothing, so that the report and the notebook a run exports (and the
`runpad show` / `runpad export` commands that write them) need neither the graph nor a
sandbox backend.
"""

from __future__ import annotations

__all__ = ["KERNEL_NAME", "REPLAYED_LANGUAGES"]

REPLAYED_LANGUAGES = ("python", "shell")
"""Cells that change the kernel's state, and so are replayed into a fresh session."""

KERNEL_NAME = "runpad"
"""The kernelspec name of runpad's sandbox kernel, which notebooks written by runpad carry."""
